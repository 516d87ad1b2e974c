"""Where request database work runs, and how many connections requests hold at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from aerovane.db.engine import get_engine
from tests.api.conftest import add_dag
from tests.conftest import PG_URL


@pytest.fixture
def statement_threads(accounts: Any) -> Any:
    """(thread name, SQL) of every statement executed while the test runs."""
    add_dag("etl")
    executed: list[tuple[str, str]] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        executed.append((threading.current_thread().name, statement))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield executed
    event.remove(engine, "before_cursor_execute", record)


def test_reads_run_where_they_are_cheapest(
    client: httpx.Client, admin: httpx.BasicAuth, statement_threads: list[tuple[str, str]]
) -> None:
    # A password's first check is a sign-in: a write, recorded by a worker thread.
    assert client.get("/dags", auth=admin).status_code == 200
    signing_in = [name for name, sql in statement_threads if sql.lstrip().startswith("UPDATE")]
    assert len(signing_in) == 1 and signing_in[0].startswith("AnyIO worker")
    # Later requests of the same sign-in only read.
    statement_threads.clear()
    assert client.get("/dags", auth=admin).status_code == 200
    assert statement_threads
    threads = [name for name, _ in statement_threads]
    workers = [name for name in threads if name.startswith("AnyIO worker")]
    if PG_URL:
        # Network waits release the GIL: worker threads give real concurrency.
        assert workers == threads
    else:
        # SQLite reads are pure CPU under the GIL: run on the event loop, no hand-offs.
        assert workers == []
        assert len(set(threads)) == 1


def test_writes_never_run_on_the_event_loop(
    client: httpx.Client, admin: httpx.BasicAuth, statement_threads: list[tuple[str, str]]
) -> None:
    response = client.patch("/dags/etl", json={"is_paused": True}, auth=admin)
    assert response.status_code == 200
    # Everything but reads (and the deferred BEGIN that opens a read).
    writes = [
        (name, sql)
        for name, sql in statement_threads
        if not sql.lstrip().startswith("SELECT") and sql.strip() != "BEGIN"
    ]
    assert any(sql.lstrip().startswith("UPDATE") for _, sql in writes)
    assert any(sql.lstrip().startswith("INSERT INTO log") for _, sql in writes)
    # The write transaction (which may wait for SQLite's write lock) runs in a worker thread;
    # looking the caller up is a read and, on SQLite, runs inline like any other read.
    assert all(name.startswith("AnyIO worker") for name, _ in writes)
    if PG_URL:
        assert all(name.startswith("AnyIO worker") for name, _ in statement_threads)


def test_requests_hold_at_most_pool_size_connections(
    client: httpx.Client, accounts: Any, configure: Any
) -> None:
    from aerovane.db.engine import dispose_engines

    configure(database__sql_alchemy_pool_size="2", database__sql_alchemy_max_overflow="20")
    dispose_engines()
    add_dag("etl")
    engine = get_engine()
    assert engine.pool.size() == 2  # type: ignore[attr-defined]
    in_use = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def checkout(*args: Any) -> None:
        with lock:
            in_use["now"] += 1
            in_use["peak"] = max(in_use["peak"], in_use["now"])

    def checkin(*args: Any) -> None:
        with lock:
            in_use["now"] -= 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    auth = accounts["Viewer"].auth
    try:
        with ThreadPoolExecutor(12) as pool:
            statuses = list(
                pool.map(
                    lambda _: client.get("/dags/etl/dagRuns", auth=auth).status_code, range(60)
                )
            )
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
    assert statuses == [200] * 60
    assert in_use["peak"] <= 2


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (AEROVANE_TEST_DATABASE_URL)")
def test_a_request_waiting_for_a_row_lock_holds_up_no_other(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    """A PostgreSQL request that waits for a row lock (in a worker thread, decision 0032)
    must leave the event loop free to answer the others."""
    from sqlalchemy import text

    from aerovane.db.engine import get_engine

    add_dag("etl")
    assert client.get("/dags", auth=admin).status_code == 200  # the password's sign-in
    with get_engine().connect() as holder, ThreadPoolExecutor(1) as pool:
        holder.execute(text("SELECT 1 FROM dag WHERE dag_id = 'etl' FOR UPDATE"))
        patched = pool.submit(client.patch, "/dags/etl", json={"is_paused": True}, auth=admin)
        _wait_until_a_statement_waits_for_a_lock("UPDATE dag")
        for _ in range(3):
            assert client.get("/dags", auth=admin).status_code == 200
            assert client.get("/dags/etl", auth=admin).json()["is_paused"] is False
        assert not patched.done()
        holder.rollback()
        assert patched.result().status_code == 200
    assert client.get("/dags/etl", auth=admin).json()["is_paused"] is True


def _wait_until_a_statement_waits_for_a_lock(prefix: str) -> None:
    """Poll (a fresh snapshot of `pg_stat_activity` each time) until a backend of this
    database runs a statement starting with `prefix` and waits for a lock."""
    import time

    from sqlalchemy import text

    from aerovane.db.engine import get_engine

    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE :prefix"
    )
    deadline = time.monotonic() + 120  # a guard against hanging, not a measurement
    while True:
        with get_engine().connect() as conn:
            if conn.execute(waiting, {"prefix": f"{prefix}%"}).scalar():
                return
        assert time.monotonic() < deadline, "no statement waited for the lock"
        time.sleep(0.01)
