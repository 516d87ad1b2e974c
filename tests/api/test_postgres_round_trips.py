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
    add_dag("etl")
    # The first request with a password is a sign-in, recorded in a write of its own (decision
    # 0019); the trigger below reuses that check.
    assert client.get("/dags", auth=admin).status_code == 200
    checkouts.clear()
    response = client.post("/dags/etl/dagRuns", json={"dag_run_id": "one"}, auth=admin)
    assert response.status_code == 200, response.text
    # The request's own work holds one connection; the schedulers' wake-up (a NOTIFY sent
    # after the commit, decision 0022) takes a second, briefly.
    assert len(checkouts) == 2
    checkouts.clear()
    assert client.get("/dags", auth=admin).status_code == 200
    assert len(checkouts) == 1


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
