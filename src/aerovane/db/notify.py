"""Wake-ups across hosts through PostgreSQL `LISTEN/NOTIFY` (decision 0022).

On PostgreSQL, `notify(kind)` sends `NOTIFY aerovane_<kind>` (kind: `scheduler`, `triggerer`)
and a `Listener` holds one dedicated connection that LISTENs on that channel, for a selector to
watch beside the Unix socket of the same host. The channel is per database, so every process
that shares the metadata database, on any host, hears it. On SQLite both are no-ops: one
host, and the Unix sockets under `$AEROVANE_HOME/run` suffice.

A notification is only a hint to look now: nothing may depend on it arriving. A lost one (the
listener reconnecting, the server restarting) costs the waiter one idle interval.
Must not: hold a transaction open, or raise into a caller that only wanted to be woken.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

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


def notify(kind: str) -> None:
    """NOTIFY every listener of `kind` on the metadata database (PostgreSQL only); never
    raises: a missed wake-up only delays the waiter by its idle interval."""
    if not uses_postgres():
        return
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel(kind)})
            conn.commit()
    except SQLAlchemyError as exc:
        log.debug("NOTIFY %s failed: %s", channel(kind), type(exc).__name__)


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
