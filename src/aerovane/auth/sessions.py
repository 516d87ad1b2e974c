"""Signed session cookies: who is signed in to the web UI (without the proxy).

A cookie value is `<base64url JSON {"uid", "exp", "g", "p"}>.<base64url HMAC-SHA256>`, keyed by
`[webserver] secret_key` through a purpose-specific derivation, so no other signed token (file
tokens, log tokens) ever passes as a session. Expiry is part of the signed payload. Without a
configured secret the process signs with a random key: sessions then end with the process and
do not cross workers. Issuers should set the cookie `HttpOnly`, `SameSite=Lax` (the API takes no
CSRF token, as Airflow's does not) and `Secure` behind TLS.

A session also ends before its expiry, as the proxy's do: the cookie carries the user's
`session_epoch` (`g`, which signing out moves on, `end_sessions`) and a fingerprint of their
password hash (`p`, which any password change replaces), and `is_current` compares both with the
user's row, which the `session` backend reads anyway.

This module signs and verifies only; `aerovane.auth.backends.session` turns a cookie into a user.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.identity.project import fingerprint

if TYPE_CHECKING:
    from aerovane.auth.rbac import UserAccess

log = logging.getLogger(__name__)

#: The cookie's name, as Flask's (and so Airflow's UI's).
SESSION_COOKIE = "session"
#: Airflow's `[webserver] session_lifetime_minutes` default (30 days).
DEFAULT_LIFETIME_SECONDS = 43200 * 60

_SALT = b"aerovane.session_cookie"
_FALLBACK_SECRET = secrets.token_urlsafe(32)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=1)
def _warn_no_secret() -> None:
    log.warning("[webserver] secret_key is empty; session cookies use a per-process key")


def _current_key() -> bytes:
    return purpose_key(_SALT)


@functools.lru_cache(maxsize=16)
def _purpose_key(secret: str, salt: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), salt, hashlib.sha256).digest()


def purpose_key(salt: bytes) -> bytes:
    """A key derived from `[webserver] secret_key` (or the per-process fallback) for one
    purpose, named by `salt`: session cookies, the web UI's CSRF tokens."""
    secret = get_settings().getstr("webserver", "secret_key")
    if not secret:
        _warn_no_secret()
        secret = _FALLBACK_SECRET
    return _purpose_key(secret, salt)


def _signature(key: bytes, payload: str) -> str:
    return _b64encode(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class SessionCookie:
    user_id: int
    #: The user's `session_epoch` when the cookie was issued.
    epoch: int
    #: `password_fingerprint` of the user's password hash when the cookie was issued.
    password: str


def password_fingerprint(password_hash: str | None) -> str:
    """A label for the password hash a session was issued under (no password: its own label)."""
    return fingerprint(password_hash or "")


def issue_session_cookie(
    user_id: int,
    *,
    epoch: int,
    password_hash: str | None,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    now: float | None = None,
) -> str:
    """The value of a `session` cookie signing in user `user_id` for `lifetime_seconds`;
    `epoch` and `password_hash` are the user's `session_epoch` and password hash now."""
    issued = time.time() if now is None else now
    body = {
        "uid": int(user_id),
        "exp": int(issued + lifetime_seconds),
        "g": int(epoch),
        "p": password_fingerprint(password_hash),
    }
    payload = _b64encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_signature(_current_key(), payload)}"


def read_session_cookie(value: str, *, now: float | None = None) -> SessionCookie | None:
    """The session a cookie value carries, or None if it is forged, malformed or expired
    (whether it was revoked since is `is_current`'s question)."""
    payload, sep, signature = value.rpartition(".")
    if not sep or not payload or not payload.isascii():
        return None
    expected = _signature(_current_key(), payload)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return None
    try:
        body = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    user_id, expires, epoch, password = (body.get(k) for k in ("uid", "exp", "g", "p"))
    if not all(_is_int(v) for v in (user_id, expires, epoch)) or not isinstance(password, str):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return SessionCookie(user_id, epoch, password)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_current(cookie: SessionCookie, user: UserAccess) -> bool:
    """Whether `cookie` still signs in `user`: active, not signed out since, same password."""
    return (
        user.active
        and user.session_epoch == cookie.epoch
        and hmac.compare_digest(password_fingerprint(user.password), cookie.password)
    )


def end_sessions(user_id: int, epoch: int, *, session: Session) -> None:
    """Sign the user out everywhere: move their `session_epoch` on, unless it moved already
    since `epoch` (a cookie revoked before cannot keep signing others out). `changed_on` is
    kept: signing out is no change to the user."""
    session.execute(
        update(models.User)
        .where(models.User.id == user_id, models.User.session_epoch == epoch)
        .values(session_epoch=models.User.session_epoch + 1, changed_on=models.User.changed_on)
    )
