"""`db.notify.wake_on_commit`: a writer's wake-up goes out with its commit and never with a
rollback, on PostgreSQL (a NOTIFY in the transaction) and SQLite (this host's sockets)."""

from __future__ import annotations

import selectors
from pathlib import Path

from sqlalchemy import text

from aerovane.db.engine import create_session
from aerovane.db.notify import Listener, wake_on_commit
from aerovane.scheduler.wakeup import Wakeup
from tests.conftest import PG_URL


class _Waiter:
    """A scheduler's Wakeup, or on PostgreSQL a bare listener (a NOTIFY reaches both)."""

    def __init__(self) -> None:
        self.wakeup = Wakeup(cross_host=False) if not PG_URL else None
        self.listener = Listener("scheduler") if PG_URL else None
        if self.listener is not None:
            assert self.listener.ensure()

    def woken(self, timeout: float) -> bool:
        if self.wakeup is not None:
            return self.wakeup.wait(timeout)
        assert self.listener is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener.fileno(), selectors.EVENT_READ)
            if not selector.select(timeout):
                return False
        return self.listener.drain() > 0

    def close(self) -> None:
        if self.wakeup is not None:
            self.wakeup.close()
        if self.listener is not None:
            self.listener.close()


def test_a_wake_up_goes_out_with_the_commit_only(db: Path) -> None:
    waiter = _Waiter()
    try:
        assert waiter.woken(0) is False
        try:
            with create_session() as session:
                session.execute(text("SELECT 1"))
                wake_on_commit(session, "scheduler")
                raise RuntimeError("the write fails")
        except RuntimeError:
            pass
        assert waiter.woken(0) is False  # SQLite's datagrams would be there already
        # A committed wake-up after the rolled-back one: the waiter hears exactly one (a NOTIFY
        # is delivered in commit order, so had the first gone out it would be there too).
        with create_session() as session:
            session.execute(text("SELECT 1"))
            wake_on_commit(session, "scheduler")
            wake_on_commit(session, "scheduler")  # once per transaction
            assert waiter.woken(0) is False  # not before the commit
        assert waiter.woken(120) is True
        assert waiter.woken(0) is False
    finally:
        waiter.close()
