"""Engines and sessions.

SQLite runs in WAL mode so readers never block the writer. Write sessions open their
transaction with `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes can fail
at once with SQLITE_BUSY when another process committed in between, whereas IMMEDIATE waits
(`busy_timeout`) for the write lock. Read-only sessions keep plain deferred transactions so API
reads never queue behind the scheduler.

SQLite plans queries well only with statistics (`sqlite_stat1`): without them it assumes an
equality on an indexed column picks a few rows, so e.g. one DAG's runs in id order are read
through the `(dag_id, ...)` index and sorted, all of them, for a page of 100. Pooled
connections therefore run `PRAGMA optimize` (SQLite's advice for long-lived connections) after
their first use and every few hundred uses after that: it analyzes the tables the connection
used that were never analyzed or have grown or shrunk many times over since, and is a no-op
otherwise. It never waits for the write lock; a busy database just means the next attempt.
That analysis reads whole indexes (`analysis_limit` 0): a sampled one (the first N entries of
each index) takes a column holding one value for all N entries to hold about N rows per value,
so one DAG's 100,000 runs looked like a few thousand among many and were again read through the
index and sorted for each page (decision 0030). Reading whole indexes only when a table has
changed that much costs, spread over the rows that changed it, a few index entries per row.

JSON columns are read leniently: text that is no JSON Python can parse (written by hand, or
nested too deep) reads as null with a warning, so one bad row never fails a whole listing.

On PostgreSQL, read-only sessions run in autocommit mode: under READ COMMITTED every statement
takes a fresh snapshot whether or not a transaction is open, so the BEGIN and ROLLBACK around
an API read are two round trips that buy nothing. A pooled PostgreSQL connection is pinged on
checkout only when it has been idle for `PING_AFTER_IDLE`: under load connections are reused
thousands of times a second and a ping each time (SQLAlchemy's `pool_pre_ping`) was one more
round trip per request; after a pause (or a database restart) the ping still weeds out dead
connections before a request uses one (decision 0020).

A SQLite database file is created owner-only (0600) before SQLite first opens it, so its `-wal`
and `-shm` files are too; one readable by others is tightened (`aerovane.config.permissions`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from aerovane.config import get_settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_READONLY = "aerovane_readonly"
_USES = "aerovane_uses"
#: Execution option: begin a SQLite write transaction only if the write lock is free right now,
#: else raise WriteLockBusy (see `begin_write_nowait`).
NOWAIT = "aerovane_nowait"
#: Set (by `db.writes.nowait_writes`): SQLite write transactions begun in this context raise
#: WriteLockBusy instead of waiting for the write lock, as NOWAIT does for one session.
NOWAIT_WRITES: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "aerovane_nowait_writes", default=False
)
#: Pool check-ins between two `PRAGMA optimize` on one connection (the first use counts).
OPTIMIZE_EVERY = 500
#: Seconds a pooled PostgreSQL connection may sit idle and still be handed out without a ping.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "aerovane_idle_since"
#: Rows per index `analyze_missing_statistics` reads: exact on small tables, bounded on big ones.
STARTUP_ANALYSIS_LIMIT = 20_000
#: Rows per index `PRAGMA optimize` reads: all (0), so its statistics are exact (decision 0030).
OPTIMIZE_ANALYSIS_LIMIT = 0


@functools.lru_cache(maxsize=64)
def normalize_url(url: str) -> str:
    """Use psycopg 3 for `postgresql://` URLs that name no driver (memoised: every session
    asks)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _read_json(text: str) -> Any:
    """A stored JSON value, or None (with a warning) for text that is no JSON Python can read
    (written by hand, or nested too deep to parse), so one bad row never fails a listing."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        log.warning("Unreadable JSON value in the database read as null: %s", type(exc).__name__)
        return None


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event decide how transactions start (see module docstring).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute(f"PRAGMA analysis_limit={OPTIMIZE_ANALYSIS_LIMIT}")
        cur.close()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        if dbapi_conn is None:
            return
        uses = record.info.get(_USES, 0)
        record.info[_USES] = uses + 1
        if uses % OPTIMIZE_EVERY == 0:
            _optimize(dbapi_conn)

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        options = conn.get_execution_options()
        if options.get(_READONLY):
            # Straight to the driver: a read opens a transaction per request.
            conn.connection.dbapi_connection.execute("BEGIN")
        elif options.get(NOWAIT) or NOWAIT_WRITES.get():
            _begin_immediate_nowait(conn.connection.dbapi_connection)
        else:
            _begin_immediate(conn.connection.dbapi_connection)


def _optimize(dbapi_conn) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    try:
        dbapi_conn.execute("PRAGMA busy_timeout=0")
        dbapi_conn.execute("PRAGMA optimize")
    except sqlite3.Error:
        pass  # busy (or read-only): statistics are only an optimisation
    finally:
        with contextlib.suppress(sqlite3.Error):
            dbapi_conn.execute("PRAGMA busy_timeout=30000")


def _configure_postgres(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it sat idle (see module docstring)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if getattr(dbapi_conn, "broken", False) or getattr(dbapi_conn, "closed", False):
            raise exc.DisconnectionError("connection closed")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            # The pool drops this connection and checks out (or opens) another one.
            raise exc.DisconnectionError(str(error)) from error


class WriteLockBusy(Exception):
    """Another connection holds SQLite's write lock."""


def analyze_missing_statistics(url: str | None = None) -> None:
    """ANALYZE the SQLite tables that hold rows but have no statistics yet (for a server about
    to start: `PRAGMA optimize` only looks at tables a connection has used, so the first
    requests would otherwise be planned blind). A no-op elsewhere, or when the write lock is
    busy: statistics are only an optimisation."""
    import sqlite3

    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        dbapi_conn = raw.dbapi_connection
        assert dbapi_conn is not None
        analyzed: set[str] = set()
        if dbapi_conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            analyzed = {row[0] for row in dbapi_conn.execute("SELECT tbl FROM sqlite_stat1")}
        tables = [
            row[0]
            for row in dbapi_conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        dbapi_conn.execute("PRAGMA busy_timeout=0")
        dbapi_conn.execute(f"PRAGMA analysis_limit={STARTUP_ANALYSIS_LIMIT}")
        for table in tables:
            if table in analyzed:
                continue
            quoted = '"' + table.replace('"', '""') + '"'
            if dbapi_conn.execute(f"SELECT 1 FROM {quoted} LIMIT 1").fetchone() is None:  # noqa: S608
                continue
            dbapi_conn.execute(f"ANALYZE {quoted}")
    except sqlite3.Error:
        pass
    finally:
        with contextlib.suppress(sqlite3.Error):
            dbapi_conn.execute(f"PRAGMA analysis_limit={OPTIMIZE_ANALYSIS_LIMIT}")
            dbapi_conn.execute("PRAGMA busy_timeout=30000")
        raw.close()


def _begin_immediate_nowait(dbapi_conn) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        dbapi_conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise WriteLockBusy(str(exc)) from None
        raise
    finally:
        dbapi_conn.execute("PRAGMA busy_timeout=30000")


def begin_write_nowait(session: Session) -> bool:
    """Open the write `session`'s SQLite transaction if the write lock is free now; False
    (and no transaction) if another connection holds it, for callers that wait elsewhere."""
    try:
        session.connection(execution_options={NOWAIT: True})
    except WriteLockBusy:
        return False
    return True


def _begin_immediate(dbapi_conn, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Take the write lock, retrying every fraction of a millisecond.

    SQLite's own busy handler sleeps 1, 2, 5, 10, ... up to 100 ms between attempts, so with
    a dozen task processes committing at once most of the waiting is oversleeping. Write
    transactions here are short, so polling finely costs little CPU and saves that latency.
    """
    import sqlite3

    deadline = time.monotonic() + timeout
    delay = 0.0002
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 1.5, 0.004)
    finally:
        dbapi_conn.execute("PRAGMA busy_timeout=30000")


def _utc_session_args(url: str) -> dict[str, Any]:
    """PostgreSQL sessions in UTC (startup `options`, added to any the URL has): psycopg then
    returns `timestamptz` values with `datetime.UTC` itself, which `UtcDateTime` and the API's
    ISO formatting pass through as they are, instead of converting every value from the
    server's zone (decision 0030). No statement here depends on the session's zone."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    options = parsed.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    return {"options": f"{options} -c TimeZone=UTC".strip()}


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: `[database] sql_alchemy_conn`)."""
    settings = get_settings()
    url = normalize_url(url or settings.sql_alchemy_conn)
    engine = _engines.get(url)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                from pathlib import Path

                from aerovane.config.permissions import private_sqlite_file

                private_sqlite_file(Path(path))
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                json_deserializer=_read_json,
                pool_size=settings.getint("database", "sql_alchemy_pool_size") or 5,
                max_overflow=settings.getint("database", "sql_alchemy_max_overflow"),
            )
            _configure_sqlite(engine)
        else:
            engine = create_engine(
                url,
                connect_args=_utc_session_args(url),
                pool_size=settings.getint("database", "sql_alchemy_pool_size") or 5,
                max_overflow=settings.getint("database", "sql_alchemy_max_overflow"),
                pool_recycle=settings.getint("database", "sql_alchemy_pool_recycle"),
                json_deserializer=_read_json,
            )
            if engine.dialect.name == "postgresql":
                _configure_postgres(engine)
        _engines[url] = engine
        return engine


def dispose_engines(*, close: bool = True) -> None:
    """Forget all engines. After `fork()`, pass close=False so the parent's sockets survive."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=close)
        _engines.clear()
        _factories.clear()


def forget_connections() -> None:
    """After `fork()`: drop the parent's pooled connections without closing them, but keep the
    engines, and with them every statement they have compiled (see `zygote`)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)


_factories: dict[tuple[int, bool], sessionmaker[Session]] = {}


def _factory(engine: Engine, readonly: bool) -> sessionmaker[Session]:
    key = (id(engine), readonly)
    factory = _factories.get(key)
    if factory is None:
        bind: Engine = engine
        if readonly and engine.dialect.name == "postgresql":
            # Each statement sees a fresh snapshot under READ COMMITTED anyway; autocommit
            # only saves the BEGIN and ROLLBACK round trips around them.
            bind = engine.execution_options(isolation_level="AUTOCOMMIT", **{_READONLY: True})
        elif readonly:
            bind = engine.execution_options(**{_READONLY: True})
        factory = sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)
        _factories[key] = factory
    return factory


@contextlib.contextmanager
def create_session(*, readonly: bool = False, url: str | None = None) -> Iterator[Session]:
    """A session committed on success and rolled back on error.

    Functions that are handed a session never commit it; only the owner of this context does.
    """
    session = _factory(get_engine(url), readonly)()
    try:
        yield session
        if not readonly:
            session.commit()
        # A read-only session just closes: its objects stay loaded (detached), not expired.
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_AUTH_MEMO = "aerovane_auth_memo"
_MEMO_MAX = 256


def auth_memo(session: Session) -> dict[Any, Any] | None:
    """A dict for memoising what the session reads about users, roles and permissions, kept
    while `auth_version` stays the same (one primary-key read per call), or None where there
    is no stamp to check (PostgreSQL, a database without the row).

    Triggers move the stamp to a fresh random value in the very transaction that changes an
    auth table, so: a memo filled by that transaction (own uncommitted writes included) is
    never consulted under any later stamp, and writes to every other table (runs, task
    instances: the normal traffic of a busy install) leave the memo alone. It belongs to the
    pooled connection, so each is read on the connection that filled it.
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    pooled = session.connection().connection
    row = pooled.dbapi_connection.execute("SELECT version FROM auth_version").fetchone()
    if row is None:
        return None
    memo = pooled.info.get(_AUTH_MEMO)
    if memo is None or memo[0] != row[0] or len(memo[1]) >= _MEMO_MAX:
        memo = pooled.info[_AUTH_MEMO] = (row[0], {})
    return memo[1]


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"
