"""What an API request costs on PostgreSQL beyond its own statements (decision 0020): no
transaction around reads, one pooled connection per request, pings only for idle connections."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, event, text

from tests.api.conftest import add_dag
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (AEROVANE_TEST_DATABASE_URL)")


def test_read_only_sessions_open_no_transaction(db: Path) -> None:
    from psycopg.pq import TransactionStatus

    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
        raw = session.connection().connection.dbapi_connection
        assert raw.info.transaction_status == TransactionStatus.IDLE
    with create_session() as session:
        session.execute(text("SELECT 1"))
        raw = session.connection().connection.dbapi_connection
        assert raw.info.transaction_status == TransactionStatus.INTRANS


@pytest.fixture
def checkouts() -> Iterator[list[int]]:
    from aerovane.db.engine import get_engine

    engine = get_engine()
    seen: list[int] = []

    def on_checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        seen.append(1)

    event.listen(engine, "checkout", on_checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "checkout", on_checkout)


def test_a_trigger_uses_one_connection(
    client: httpx.Client, admin: httpx.BasicAuth, checkouts: list[int]
) -> None:
    """The schedulers' wake-up is a NOTIFY in the trigger's own transaction (decision 0029):
    no second connection."""
    from aerovane.db.notify import Listener

    add_dag("etl")
    listener = Listener("scheduler")
    try:
        assert listener.ensure()
        # The first request with a password is a sign-in, recorded in a write of its own
        # (decision 0019); the trigger below reuses that check.
        assert client.get("/dags", auth=admin).status_code == 200
        listener.drain()
        checkouts.clear()
        response = client.post("/dags/etl/dagRuns", json={"dag_run_id": "one"}, auth=admin)
        assert response.status_code == 200, response.text
        assert len(checkouts) == 1
        assert _notifications(listener) == 1
        # A refused trigger wakes no one (its audit row is written on a connection of its own).
        again = client.post("/dags/etl/dagRuns", json={"dag_run_id": "one"}, auth=admin)
        assert again.status_code == 409, again.text
        response = client.post("/dags/etl/dagRuns", json={"dag_run_id": "two"}, auth=admin)
        assert response.status_code == 200, response.text
        # Only the committed trigger's notification arrives (they come in commit order).
        assert _notifications(listener) == 1
    finally:
        listener.close()
    checkouts.clear()
    assert client.get("/dags", auth=admin).status_code == 200
    assert len(checkouts) == 1


def _notifications(listener: Any) -> int:
    """What arrived on `listener` by now: delivery at commit is asynchronous, so wait (up to
    120 s) for the first one, then take what is there."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(listener.fileno(), selectors.EVENT_READ)
        assert selector.select(120), "no notification"
    return int(listener.drain())


def test_an_idle_connection_killed_by_the_server_is_replaced(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.db import engine as engine_module
    from aerovane.db.engine import create_session

    with create_session() as session:
        victim = session.execute(text("SELECT pg_backend_pid()")).scalar()
    outside = create_engine(engine_module.get_engine().url)
    try:
        with outside.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
    finally:
        outside.dispose()
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.0)
    for _ in range(3):  # whichever pooled connection comes out, each works
        with create_session() as session:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            assert pid != victim


def test_sessions_run_in_utc_and_keep_the_urls_own_options(db: Path) -> None:
    from aerovane.db.engine import _utc_session_args, create_session

    url = "postgresql+psycopg://u@h/d?options=-c%20statement_timeout%3D5000"
    assert _utc_session_args(url) == {"options": "-c statement_timeout=5000 -c TimeZone=UTC"}
    assert _utc_session_args("sqlite:////tmp/x.db") == {}
    with create_session(readonly=True) as session:
        assert session.execute(text("SHOW TimeZone")).scalar() == "UTC"
        # The driver hands back `datetime.UTC` itself, which `UtcDateTime` passes through.
        value = session.execute(text("SELECT now()")).scalar()
        assert value.tzinfo is dt.UTC
