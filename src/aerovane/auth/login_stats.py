"""`ab_user.last_login` / `login_count` for people who sign in by basic auth or through the
identity-aware proxy (iap backend).

Airflow (FAB) writes both on every basic-auth request. Here a sign-in is recorded at most once
per `RECORD_INTERVAL` per user: every write to `ab_user` moves the auth stamp and empties the
access memo of every connection (docs/decisions/0007), so a write per request would cost each
API request the five-table access query again. `login_count` therefore counts periods of use
(a new one after `RECORD_INTERVAL` without a recorded sign-in), not requests
(docs/decisions/0016).

The write is conditional on the stored `last_login`, so several processes record a period once;
it never waits for SQLite's write lock (a busy lock skips it, and the next request retries).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from sqlalchemy import func, or_, update

from aerovane.db import models
from aerovane.db.engine import begin_write_nowait, create_session
from aerovane.db.types import utcnow

RECORD_INTERVAL = dt.timedelta(minutes=10)

_lock = threading.Lock()
#: user id → monotonic time this process last recorded (or found recorded) their sign-in.
_recorded: dict[int, float] = {}


def record_sign_in(user_id: int) -> None:
    """Note that `user_id` signed in now, unless this process did within `RECORD_INTERVAL`."""
    now = time.monotonic()
    with _lock:
        last = _recorded.get(user_id)
        if last is not None and now - last < RECORD_INTERVAL.total_seconds():
            return
        _recorded[user_id] = now
    if not _write(user_id):
        with _lock:
            _recorded.pop(user_id, None)


def _write(user_id: int) -> bool:
    stamp = utcnow()
    user = models.User
    with create_session() as session:
        if not begin_write_nowait(session):
            return False
        session.execute(
            update(user)
            .where(
                user.id == user_id,
                or_(user.last_login.is_(None), user.last_login <= stamp - RECORD_INTERVAL),
            )
            .values(
                last_login=stamp,
                login_count=func.coalesce(user.login_count, 0) + 1,
                changed_on=user.changed_on,
            )
        )
    return True


def forget() -> None:
    """Drop this process's memory of recorded sign-ins (tests)."""
    with _lock:
        _recorded.clear()
