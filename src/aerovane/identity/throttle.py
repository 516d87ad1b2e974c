"""Throttling password guesses: the `/token` password grant and the proxy's sign-in page.

Failed attempts are counted in fixed windows of `WINDOW` seconds under three keys, and an
attempt is refused (before the password is checked, so it costs no KDF run and tells nothing)
while any of them is over its limit:

- the account from this address (`PAIR_LIMIT`): a guesser slows down at once, and an attacker's
  address can only lock the account out *from that address*;
- the address, whatever account (`ADDRESS_LIMIT`): spraying one password over many accounts;
- the account from every address (`ACCOUNT_LIMIT`): guessing from many addresses. An address
  the account signed in from in the last `KNOWN_FOR` seconds is exempt, so a distributed
  attacker cannot lock a person out of where they usually work.

A success clears the account's count from that address and remembers the address. Nothing is
locked for longer than a window. The counters live in the database (`LoginThrottle`), shared
by every API worker and process, under HMAC digests of the names and addresses (keyed by
`[webserver] secret_key`): no username or address is stored. See
`docs/decisions/0009-throttle-password-guesses.md`.

`check` reads in the caller's session; `record_failure` and `record_success` own their write
transaction (they run after a read-only grant has decided).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import create_session

#: Seconds a window of failures lasts, from the first failure in it.
WINDOW = 900.0
PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
ACCOUNT_LIMIT = 50
#: Seconds an address stays "known" for an account after a successful sign-in from it.
KNOWN_FOR = 30 * 24 * 3600.0

_PAIR, _ADDRESS, _ACCOUNT, _KNOWN = "pair", "address", "account", "known"
_COUNTED = (_PAIR, _ADDRESS, _ACCOUNT)


class Throttled(Exception):
    """Too many failed attempts; try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after}s")
        self.retry_after = retry_after


def _digest(kind: str, *parts: str) -> str:
    secret = get_settings().getstr("webserver", "secret_key").encode()
    message = "\0".join((kind, *parts)).encode("utf-8", "replace")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _keys(username: str, address: str | None) -> dict[str, str]:
    account, where = username.strip().lower(), address or "unknown"
    return {
        _PAIR: _digest(_PAIR, account, where),
        _ADDRESS: _digest(_ADDRESS, where),
        _ACCOUNT: _digest(_ACCOUNT, account),
        _KNOWN: _digest(_KNOWN, account, where),
    }


def _live_rows(
    keys: Mapping[str, str], now: float, session: Session
) -> dict[str, tuple[int, float]]:
    rows = session.execute(
        select(
            models.LoginThrottle.key, models.LoginThrottle.failures, models.LoginThrottle.expires_at
        )
        .where(models.LoginThrottle.key.in_(list(keys.values())))
        .where(models.LoginThrottle.expires_at > now)
    )
    return {key: (failures, expires_at) for key, failures, expires_at in rows}


def check(username: str, address: str | None, *, session: Session) -> None:
    """Raise Throttled if an attempt for `username` from `address` must wait (one read)."""
    now = time.time()
    keys = _keys(username, address)
    rows = _live_rows(keys, now, session)
    limits = {_PAIR: PAIR_LIMIT, _ADDRESS: ADDRESS_LIMIT, _ACCOUNT: ACCOUNT_LIMIT}
    if keys[_KNOWN] in rows:
        del limits[_ACCOUNT]
    until = 0.0
    for kind, limit in limits.items():
        failures, expires_at = rows.get(keys[kind], (0, 0.0))
        if failures >= limit:
            until = max(until, expires_at)
    if until > now:
        raise Throttled(max(1, math.ceil(until - now)))


def _upsert(session: Session, key: str, *, count: bool, expires_at: float, now: float) -> None:
    table = models.LoginThrottle.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(key=key, failures=1 if count else 0, expires_at=expires_at)
    live = table.c.expires_at > now
    if count:
        values = {
            "failures": case((live, table.c.failures + 1), else_=1),
            "expires_at": case((live, table.c.expires_at), else_=statement.excluded.expires_at),
        }
    else:
        values = {"expires_at": statement.excluded.expires_at}
    session.execute(statement.on_conflict_do_update(index_elements=["key"], set_=values))


def record_failure(username: str, address: str | None) -> None:
    """Count a failed attempt under all three keys (and forget what has expired)."""
    now = time.time()
    keys = _keys(username, address)
    with create_session() as session:
        session.execute(delete(models.LoginThrottle).where(models.LoginThrottle.expires_at <= now))
        for kind in _COUNTED:
            _upsert(session, keys[kind], count=True, expires_at=now + WINDOW, now=now)


def record_success(username: str, address: str | None) -> None:
    """Clear the account's failures from this address and remember the address as known."""
    now = time.time()
    keys = _keys(username, address)
    with create_session() as session:
        session.execute(delete(models.LoginThrottle).where(models.LoginThrottle.key == keys[_PAIR]))
        _upsert(session, keys[_KNOWN], count=False, expires_at=now + KNOWN_FOR, now=now)
