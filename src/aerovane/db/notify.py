"""Sending wake-ups to schedulers and triggerers (decisions 0002, 0022, 0029).

`wake_on_commit(session, kind)` (kind: `scheduler`, `triggerer`) is how a writer says "look
now" about its own write: on PostgreSQL it is `pg_notify('aerovane_<kind>')` in the writer's
own transaction, which the server delivers only if that transaction commits, to every process
LISTENing on the database (any host), and which costs no other connection; on SQLite it is one
empty datagram to each `<kind>-<pid>.sock` under `$AEROVANE_HOME/run`, sent once the session
has committed (one host). `notify(kind)` is the same for a caller with nothing to commit.
A `Listener` holds the dedicated connection that LISTENs, for a `Wakeup`
(`aerovane.scheduler.wakeup`) to watch beside its socket.

A notification is only a hint to look now: nothing may depend on it arriving. A lost one (the
listener reconnecting, the server restarting) costs the waiter one idle interval.
Must not: hold a transaction open, or raise into a caller that only wanted to be woken.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db.engine import get_engine, normalize_url

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "aerovane_"
#: The least time between two attempts to (re)connect a listener.
RECONNECT_EVERY = 1.0


def channel(kind: str) -> str:
    return f"{CHANNEL_PREFIX}{kind}"


def uses_postgres() -> bool:
    return normalize_url(get_settings().sql_alchemy_conn).startswith("postgresql")


_PG_NOTIFY = text("SELECT pg_notify(:channel, '')")
#: session.info key: the kinds `wake_on_commit` was asked for in the current transaction.
_WAKES = "aerovane.wakes"


def wake_on_commit(session: Session, kind: str) -> None:
    """Wake every `kind` waiter when `session`'s transaction commits, never if it rolls back
    (see the module docstring); once per kind and transaction however often it is called."""
    wakes: set[str] = session.info.setdefault(_WAKES, set())
    if kind in wakes:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PG_NOTIFY, {"channel": channel(kind)})
    wakes.add(kind)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    wakes = session.info.pop(_WAKES, None)
    if wakes and session.get_bind().dialect.name != "postgresql":
        for kind in sorted(wakes):
            _notify_sockets(kind)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_WAKES, None)


def notify(kind: str) -> None:
    """Wake every `kind` waiter now, for a caller with no transaction of its own to send it
    in: a NOTIFY on PostgreSQL (one pooled connection, briefly), else the sockets of this
    host. Never raises: a missed wake-up only delays the waiter by its idle interval."""
    if not uses_postgres():
        _notify_sockets(kind)
        return
    try:
        with get_engine().connect() as conn:
            conn.execute(_PG_NOTIFY, {"channel": channel(kind)})
            conn.commit()
    except SQLAlchemyError as exc:
        log.debug("NOTIFY %s failed: %s", channel(kind), type(exc).__name__)


# -- this host's sockets (SQLite) -----------------------------------------------------------------


def run_dir() -> Path:
    """Where this home's waiters bind their sockets."""
    return _run_dir_of(get_settings().home)


@functools.lru_cache(maxsize=8)
def _run_dir_of(home: Path) -> Path:
    """Made once per home: every trigger pokes the schedulers, and a mkdir each time showed."""
    run = home / "run"
    # sun_path is limited to 108 bytes; deep homes (test tmp dirs) use a short hashed dir.
    if len(str(run)) > 70:
        digest = hashlib.sha256(str(home).encode()).hexdigest()[:16]
        run = Path(tempfile.gettempdir()) / f"aerovane-{digest}"
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    return run


#: A listing of the run directory is trusted this long unless the directory itself changed.
LISTING_TTL = 1.0
_listings: dict[tuple[Path, str], tuple[int, float, list[str]]] = {}


def _sockets(run: Path, kind: str) -> list[str]:
    """The waiters' sockets in `run`, listed again only when the directory changed (its
    mtime) or the last listing is LISTING_TTL old: every trigger pokes the schedulers, and a
    directory scan each time showed in the profile. The age bound covers a socket made within
    the file system's timestamp granularity of the last listing."""
    mtime = os.stat(run).st_mtime_ns
    now = time.monotonic()
    cached = _listings.get((run, kind))
    if cached is not None and cached[0] == mtime and now - cached[1] < LISTING_TTL:
        return cached[2]
    with os.scandir(run) as entries:
        paths = [
            e.path for e in entries if e.name.startswith(f"{kind}-") and e.name.endswith(".sock")
        ]
    _listings[(run, kind)] = (mtime, now, paths)
    return paths


def _notify_sockets(kind: str) -> None:
    try:
        run = run_dir()
        paths = _sockets(run, kind)
    except OSError:
        return
    if not paths:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for path in paths:
            try:
                sock.sendto(b"", path)
            except ConnectionRefusedError:
                # The process that owned it is gone.
                with contextlib.suppress(OSError):
                    os.unlink(path)
            except OSError:
                pass


def _conninfo() -> str:
    """The metadata database URL as libpq takes it (no SQLAlchemy driver suffix)."""
    url = make_url(normalize_url(get_settings().sql_alchemy_conn))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """One autocommit psycopg connection that LISTENs on `aerovane_<kind>`.

    `ensure()` (re)connects when there is no healthy connection, at most every
    RECONNECT_EVERY seconds, and says whether it made a new one (notifications may have been
    missed meanwhile, so the caller should act as if woken). `fileno()` is the socket to
    select on; `drain()` reads what arrived and returns how many notifications it was.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._conn: Any = None
        self._last_attempt = 0.0

    @property
    def connected(self) -> bool:
        if self._conn is None:
            return False
        import psycopg.pq

        return bool(self._conn.pgconn.status == psycopg.pq.ConnStatus.OK)

    def ensure(self) -> bool:
        if self.connected:
            return False
        self.close()
        now = time.monotonic()
        if now - self._last_attempt < RECONNECT_EVERY:
            return False
        self._last_attempt = now
        import psycopg

        try:
            conn = psycopg.connect(
                _conninfo(),
                autocommit=True,
                connect_timeout=10,
                # A peer that vanished without a FIN (another host, a cut link) is noticed.
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
            conn.execute(f"LISTEN {channel(self.kind)}")
        except psycopg.Error as exc:
            log.warning("cannot LISTEN for %s wake-ups: %s", self.kind, type(exc).__name__)
            return False
        self._conn = conn
        return True

    def fileno(self) -> int:
        return int(self._conn.fileno()) if self._conn is not None else -1

    def drain(self) -> int:
        """Read the notifications that arrived; on a broken connection close it (the next
        `ensure()` reconnects) and count that as one wake-up."""
        if self._conn is None:
            return 0
        import psycopg

        pgconn = self._conn.pgconn
        count = 0
        try:
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                count += 1
        except psycopg.Error:
            self.close()
            return 1
        if not self.connected:
            self.close()
            return 1
        return count

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
