"""Engines and sessions.

SQLite runs in WAL mode so readers never block the writer. Write sessions open their
transaction with `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes can fail
at once with SQLITE_BUSY when another process committed in between, whereas IMMEDIATE waits
(`busy_timeout`) for the write lock. Read-only sessions keep plain deferred transactions so API
reads never queue behind the scheduler.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from aerovane.config import get_settings

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_READONLY = "aerovane_readonly"


def normalize_url(url: str) -> str:
    """Use psycopg 3 for `postgresql://` URLs that name no driver."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


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
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        if conn.get_execution_options().get(_READONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            _begin_immediate(conn.connection.dbapi_connection)


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
            if path and path != ":memory:":
                from pathlib import Path

                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=settings.getint("database", "sql_alchemy_pool_size") or 5,
                max_overflow=settings.getint("database", "sql_alchemy_max_overflow"),
            )
            _configure_sqlite(engine)
        else:
            engine = create_engine(
                url,
                pool_size=settings.getint("database", "sql_alchemy_pool_size") or 5,
                max_overflow=settings.getint("database", "sql_alchemy_max_overflow"),
                pool_recycle=settings.getint("database", "sql_alchemy_pool_recycle"),
                pool_pre_ping=True,
            )
        _engines[url] = engine
        return engine


def dispose_engines(*, close: bool = True) -> None:
    """Forget all engines. After `fork()`, pass close=False so the parent's sockets survive."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=close)
        _engines.clear()
        _factories.clear()


_factories: dict[tuple[int, bool], sessionmaker[Session]] = {}


def _factory(engine: Engine, readonly: bool) -> sessionmaker[Session]:
    key = (id(engine), readonly)
    factory = _factories.get(key)
    if factory is None:
        bind = engine.execution_options(**{_READONLY: True}) if readonly else engine
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


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "postgresql"
