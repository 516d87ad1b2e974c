"""Shared fixtures: every test gets its own AEROVANE_HOME and a migrated, empty database.

The database is SQLite in the test's home unless `AEROVANE_TEST_DATABASE_URL` names a
PostgreSQL database, in which case that database is migrated once and emptied before each test,
and tests marked `embedded_sqlite` (they run Aerovane on its own SQLite) are left out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text


def _worker_database_url() -> str:
    """Each pytest-xdist worker gets its own PostgreSQL database (`<name>_gwN`), created on
    first use, so parallel workers never empty each other's tables."""
    url = os.environ.get("AEROVANE_TEST_DATABASE_URL", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists.scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


PG_URL = _worker_database_url()

#: What a test's HTTP client waits for a server (that may share 2 busy cores with 7 other test
#: runs) before giving up; httpx's own default is 5 s.
HTTP_TIMEOUT_SECONDS = 120.0


@pytest.fixture(autouse=True, scope="session")
def _generous_http_timeouts() -> Iterator[None]:
    """Every httpx client a test makes without its own timeout (`httpx.get(...)`,
    `httpx.Client()`) waits `HTTP_TIMEOUT_SECONDS`: no test may depend on an idle machine.
    A timeout a test (or the code under test) sets itself is kept."""
    import httpx
    from httpx._config import DEFAULT_TIMEOUT_CONFIG

    original = httpx._client.BaseClient.__init__
    generous = httpx.Timeout(HTTP_TIMEOUT_SECONDS)

    def __init__(self: httpx._client.BaseClient, *args: object, **kwargs: object) -> None:
        if kwargs.get("timeout", DEFAULT_TIMEOUT_CONFIG) is DEFAULT_TIMEOUT_CONFIG:
            kwargs["timeout"] = generous
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    httpx._client.BaseClient.__init__ = __init__  # type: ignore[method-assign]
    yield
    httpx._client.BaseClient.__init__ = original  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass leaves out tests marked `embedded_sqlite`: they run Aerovane on its
    own SQLite database whatever this suite's database is, so they would repeat the SQLite
    pass."""
    if not PG_URL:
        return
    left_out = [item for item in items if item.get_closest_marker("embedded_sqlite")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("embedded_sqlite")]


_TEMPLATE: dict[str, Path] = {}


def _clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AEROVANE__", "AIRFLOW__")) or name in {"AEROVANE_CONFIG"}:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aerovane_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh home with settings reloaded; no database yet.

    A config watcher left running by an earlier test's server (session-scoped servers run
    their lifespan) is stopped first: it follows the current settings, so it would open this
    test's database file just before `db` copies the template over it.
    """
    from aerovane.config import ensure_home, reload_settings
    from aerovane.control import live
    from aerovane.db.engine import dispose_engines

    live.stop_watcher()
    live.reset()
    home = tmp_path / "home"
    _clear_env(monkeypatch)
    monkeypatch.setenv("AEROVANE_HOME", str(home))
    monkeypatch.setenv("AEROVANE__CORE__LOAD_EXAMPLES", "False")
    if PG_URL:
        monkeypatch.setenv("AEROVANE__DATABASE__SQL_ALCHEMY_CONN", PG_URL)
    dispose_engines()
    reload_settings()
    ensure_home()
    yield home
    dispose_engines()
    reload_settings()


def _reset_postgres() -> None:
    """Bring this worker's PostgreSQL database to a migrated schema holding only the default
    rows, with every sequence restarted: what `migrate` + `TRUNCATE ... RESTART IDENTITY`
    would give, at a fraction of the cost each test paid for them (~0.6 s).

    Only tables that hold rows are emptied, with DELETE, children first (TRUNCATE makes new
    files for every table and index). The schema is migrated when it is not at head: on first
    use, or after a test dropped or downgraded it."""
    from sqlalchemy.exc import ProgrammingError

    from aerovane.db.engine import get_engine
    from aerovane.db.migrate import ensure_default_rows, head_revision, migrate
    from aerovane.db.models import Base

    tables = list(reversed(Base.metadata.sorted_tables))
    probe = " UNION ALL ".join(
        [
            "SELECT -1 WHERE NOT EXISTS (SELECT 1 FROM alembic_version WHERE version_num = :head)",
            *(f'SELECT {i} WHERE EXISTS (SELECT 1 FROM "{t.name}")' for i, t in enumerate(tables)),
        ]
    )
    engine = get_engine()
    try:
        with engine.begin() as conn:
            filled = sorted(conn.execute(text(probe), {"head": head_revision()}).scalars())
    except ProgrammingError:  # a table is missing
        filled = [-1]
    if filled[:1] == [-1]:
        migrate()
        _reset_postgres()
        return
    with engine.begin() as conn:
        used = conn.execute(
            text(
                "SELECT sequencename FROM pg_sequences"
                " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            )
        ).scalars()
        statements = [f'DELETE FROM "{tables[i].name}"' for i in filled]
        statements += [f'ALTER SEQUENCE "{name}" RESTART' for name in used]
        if statements:
            conn.exec_driver_sql("; ".join(statements))
    ensure_default_rows()


@contextlib.contextmanager
def subprocess_home(
    home: Path, overrides: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """A home for tests that start Aerovane processes (scheduler, standalone): switches this
    process's settings to it (migrated; emptied on PostgreSQL) and yields the environment the
    children get: no inherited `AEROVANE__`/`AIRFLOW__` settings, this suite's database, quick
    DAG-folder scans, then `overrides`. This process's settings are restored afterwards."""
    from aerovane.config import ensure_home, reload_settings
    from aerovane.db.engine import dispose_engines
    from aerovane.db.migrate import migrate

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.2",
        AEROVANE__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="0",
        # A stopped scheduler waits this long for running tasks (a test's teardown, not
        # the 30 s a deployment gives them).
        AEROVANE__SCHEDULER__SHUTDOWN_GRACE_PERIOD="5",
    )
    if PG_URL:
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = PG_URL
    env.update(overrides or {})
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("AEROVANE__", "AIRFLOW__")):
                mp.delenv(key)
        for key, value in env.items():
            if key.startswith("AEROVANE"):
                mp.setenv(key, value)
        dispose_engines()
        reload_settings()
        ensure_home()
        if PG_URL:
            _reset_postgres()
        else:
            migrate()
        try:
            yield env
        finally:
            dispose_engines()
            reload_settings()


@pytest.fixture
def db(aerovane_home: Path) -> Path:
    """A migrated database with only the default rows (pool, roles)."""
    from aerovane.config import get_settings
    from aerovane.db.engine import dispose_engines
    from aerovane.db.migrate import migrate

    if PG_URL:
        _reset_postgres()
        return aerovane_home
    target = Path(get_settings().sql_alchemy_conn.removeprefix("sqlite:///"))
    template = _TEMPLATE.get("sqlite")
    if template is None:
        migrate()
        dispose_engines()
        template = target.parent.parent.parent / "template.db"
        shutil.copy(target, template)
        _TEMPLATE["sqlite"] = template
    else:
        shutil.copy(template, target)
    return aerovane_home


@contextlib.contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The SQL statements SQLAlchemy sends on this process's engine while the block runs."""
    from sqlalchemy import event

    from aerovane.db.engine import get_engine

    seen: list[str] = []

    def record(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture(autouse=True)
def _passwords_remembered_all_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checked password is remembered for the whole test (not a minute), and only from this
    test (not from an earlier one with the same account), so whether a request is a new sign-in
    (`aerovane.auth.sign_ins`) depends neither on how busy the machine is nor on test order."""
    from aerovane.auth import passwords

    passwords.verification_cache.clear()
    monkeypatch.setattr(passwords.verification_cache, "ttl", 3600.0)
