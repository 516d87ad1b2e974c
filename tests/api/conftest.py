"""Fixtures for API tests: a real uvicorn server on a free port, users per role, DAG rows.

One server runs for the whole session (started lazily by the first test that needs it): the app
reads settings and engines per request, so each test's fresh home and database are picked up
without a restart. Users get pre-computed password hashes (hashing once per session keeps the
suite fast; the KDF itself is tested in tests/auth).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import event, select

UTC = dt.UTC
ROLES = ("Admin", "Op", "User", "Viewer", "Public")
_HASHES: dict[str, str] = {}


@contextlib.contextmanager
def run_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread; yield its base URL."""
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every response stalls ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws="none",
        loop="asyncio",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class _ServerHolder:
    def __init__(self) -> None:
        self.url: str | None = None
        self._cm: contextlib.AbstractContextManager[str] | None = None

    def ensure(self) -> str:
        if self.url is None:
            from aerovane.api.app import create_app

            self._cm = run_server(create_app())
            self.url = self._cm.__enter__()
        return self.url

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def _server_holder() -> Iterator[_ServerHolder]:
    holder = _ServerHolder()
    yield holder
    holder.close()


@pytest.fixture
def base_url(db: Path, _server_holder: _ServerHolder) -> str:
    return _server_holder.ensure()


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url + "/api/v1", timeout=30) as c:
        yield c


# -- users ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    username: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)


def password_hash(password: str) -> str:
    if password not in _HASHES:
        from aerovane.auth.passwords import hash_password

        _HASHES[password] = hash_password(password)
    return _HASHES[password]


def add_user(
    username: str,
    roles: list[str],
    *,
    password: str = "secret-pw",
    active: bool = True,
    email: str | None = None,
) -> Account:
    from aerovane.auth.users import create_user
    from aerovane.db.engine import create_session

    with create_session() as session:
        user = create_user(
            username=username,
            email=email or f"{username.replace(':', '_')}@example.com",
            first_name=username,
            last_name="Tester",
            role_names=roles,
            password=None,
            session=session,
        )
        user.password = password_hash(password)
        user.active = active
    return Account(username, password)


@pytest.fixture
def accounts(db: Path) -> dict[str, Account]:
    """One user per default role, named after it in lower case."""
    return {role: add_user(role.lower(), [role], password=f"{role}-pw") for role in ROLES}


@pytest.fixture
def admin(accounts: dict[str, Account]) -> httpx.BasicAuth:
    return httpx.BasicAuth(*accounts["Admin"].auth)


def add_role(name: str, perms: set[tuple[str, str]]) -> None:
    from aerovane.auth.roles import ensure_permissions
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        rows = ensure_permissions(session, perms)
        role = session.scalar(select(models.Role).where(models.Role.name == name))
        if role is None:
            role = models.Role(name=name)
            session.add(role)
        have = {(p.action.name, p.resource.name) for p in role.permissions}
        role.permissions.extend(rows[p] for p in perms - have)


# -- DAGs, runs, task instances --------------------------------------------------------------------


def build_dag(
    dag_id: str,
    *,
    schedule: Any = None,
    tags: list[str] | None = None,
    params: dict[str, Any] | None = None,
    task_ids: tuple[str, ...] = ("extract", "load"),
    owner: str = "airflow",
) -> Any:
    from aerovane.authoring import DAG, EmptyOperator

    dag = DAG(
        dag_id,
        schedule=schedule,
        start_date=dt.datetime(2024, 1, 1, tzinfo=UTC),
        tags=tags or [],
        params=params or {},
        default_args={"owner": owner},
        auto_register=False,
    )
    previous = None
    for task_id in task_ids:
        op = EmptyOperator(task_id=task_id, dag=dag)
        if previous is not None:
            previous >> op
        previous = op
    dag.fileloc = f"/opt/dags/{dag_id}.py"
    return dag


def add_dag(
    dag_id: str,
    *,
    schedule: Any = None,
    tags: list[str] | None = None,
    params: dict[str, Any] | None = None,
    task_ids: tuple[str, ...] = ("extract", "load"),
    is_paused: bool = False,
    is_active: bool = True,
    has_import_errors: bool = False,
    owner: str = "airflow",
    display_name: str | None = None,
) -> None:
    """A parsed DAG as the DAG processor stores it: `dag` row, tags and serialized form."""
    from aerovane.authoring.serialization import SerializedDAG, serialize_dag
    from aerovane.db import models
    from aerovane.db.engine import create_session

    dag = build_dag(
        dag_id, schedule=schedule, tags=tags, params=params, task_ids=task_ids, owner=owner
    )
    data = serialize_dag(dag)
    serialized = SerializedDAG.from_dict(data)
    with create_session() as session:
        session.add(
            models.DagModel(
                dag_id=dag_id,
                dag_display_name=display_name,
                is_paused=is_paused,
                is_active=is_active,
                has_import_errors=has_import_errors,
                last_parsed_time=dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
                fileloc=dag.fileloc,
                owners=", ".join(serialized.owners),
                description=f"The {dag_id} DAG",
                schedule_interval=serialized.schedule_interval,
                timetable_description=serialized.timetable_description,
                max_active_tasks=serialized.max_active_tasks,
                max_active_runs=serialized.max_active_runs,
                tags=[models.DagTag(name=t) for t in sorted(set(serialized.tags))],
            )
        )
        session.flush()
        session.add(
            models.SerializedDagModel(
                dag_id=dag_id, fileloc=dag.fileloc, data=data, dag_hash=serialized.dag_hash
            )
        )


def add_run(
    dag_id: str,
    run_id: str,
    *,
    logical_date: dt.datetime,
    state: str = "queued",
    run_type: str = "manual",
    conf: dict[str, Any] | None = None,
    start_date: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
) -> None:
    """A run and its task instances, created through the trigger service."""
    from aerovane.db.engine import create_session
    from aerovane.services.dag_runs import trigger_dag_run

    with create_session() as session:
        run = trigger_dag_run(
            dag_id, run_id=run_id, logical_date=logical_date, conf=conf, session=session
        )
        run.state = state
        run.run_type = run_type
        run.start_date = start_date
        run.end_date = end_date


def update_ti(dag_id: str, run_id: str, task_id: str, **values: Any) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        ti = session.get(models.TaskInstance, (dag_id, task_id, run_id, -1))
        assert ti is not None
        for key, value in values.items():
            setattr(ti, key, value)


@contextlib.contextmanager
def count_queries() -> Iterator[list[str]]:
    """Statements executed on the current engine while the block runs (any thread), apart
    from reading the caller's access: that one is memoised on SQLite until an auth table
    changes (so the first request pays it and the next may not), and is not the endpoint's;
    nor recording a sign-in (the first request of a password, `aerovane.auth.sign_ins`)."""
    from aerovane.db.engine import get_engine

    engine = get_engine()
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            return
        if "FROM ab_user" in statement or "FROM ab_role" in statement:
            return
        if statement.lstrip().startswith("UPDATE ab_user SET last_login"):
            return
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def set_config(monkeypatch: pytest.MonkeyPatch, **options: str) -> None:
    """Change settings live (`section__key="value"`), as the control plane would."""
    from aerovane.config import reload_settings

    for name, value in options.items():
        monkeypatch.setenv(f"AEROVANE__{name.upper()}", value)
    reload_settings()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def apply(**options: str) -> None:
        set_config(monkeypatch, **options)

    return apply
