"""How a short read-then-write runs on each database: the dialect's write strategy, so that
services and handlers never choose it themselves (decisions 0003, 0020, 0029).

- `reads_for(session)`: where a write's lookups (does the DAG exist, is the run id free) are
  read. On SQLite, a read-only session of its own, ended when the block ends: reading in the
  write session would take the write lock (`BEGIN IMMEDIATE`) before the writes need it. On
  PostgreSQL, where reading takes no lock, the write session itself: a second pooled
  connection per write would overflow the pool under load. A write session with a read
  companion (`READ_COMPANION`) reads there.
- `nowait_writes()`: within it, a SQLite write transaction that cannot take the write lock at
  once raises `WriteLockBusy` instead of waiting, for a caller that waits elsewhere (the API's
  event loop) and then calls again. No effect on PostgreSQL.

Must not: commit or close a session it was handed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy.orm import Session

from aerovane.db.engine import NOWAIT_WRITES, WriteLockBusy, create_session

__all__ = ["READ_COMPANION", "WriteLockBusy", "nowait_writes", "reads_for", "separate_reads"]

#: `session.info` key: a read-only session its owner paired with this write session (an API
#: request does, for its caller's access), which `reads_for` then reads in rather than check
#: out another connection. The owner closes it.
READ_COMPANION = "aerovane.read_session"


def separate_reads(session: Session) -> bool:
    """Whether `reads_for(session)` reads in a session of its own (what it read may have
    changed by the time the write transaction begins)."""
    return session.get_bind().dialect.name == "sqlite" and not session.in_transaction()


@contextlib.contextmanager
def reads_for(session: Session) -> Iterator[Session]:
    """The session a write in `session` does its lookups in (see the module docstring). A
    write session whose transaction already began (it holds the lock) reads in itself."""
    if not separate_reads(session):
        yield session
        return
    companion: Session | None = session.info.get(READ_COMPANION)
    if companion is not None:
        yield companion
        return
    with create_session(readonly=True) as read:
        yield read


@contextlib.contextmanager
def nowait_writes() -> Iterator[None]:
    """SQLite write transactions begun inside raise WriteLockBusy rather than wait."""
    token = NOWAIT_WRITES.set(True)
    try:
        yield
    finally:
        NOWAIT_WRITES.reset(token)
