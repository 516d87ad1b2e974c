"""Signed session cookies: who is signed in to the (future) web UI.

A cookie value is `<base64url JSON {"uid", "exp", "ep", "pw"}>.<base64url HMAC-SHA256>`, keyed by
`[webserver] secret_key` through a purpose-specific derivation, so no other signed token (file
tokens, log tokens) ever passes as a session. Expiry is part of the signed payload. Without a
configured secret the process signs with a random key: sessions then end with the process and
do not cross workers. Issuers should set the cookie `HttpOnly`, `SameSite=Lax` (the API takes no
CSRF token, as Airflow's does not) and `Secure` behind TLS.

A cookie is only as good as the user's row on every request, on any worker or host: `ep` is the
user's `session_epoch` when it was issued (signing out moves it on, ending every cookie issued
before) and `pw` a keyed fingerprint of the stored password hash (a new password ends them too).
Nothing about sessions is kept in a process.

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
from typing import Any

from aerovane.config import get_settings

log = logging.getLogger(__name__)

#: The cookie's name, as Flask's (and so Airflow's UI's).
SESSION_COOKIE = "session"
#: Airflow's `[webserver] session_lifetime_minutes` default (30 days).
DEFAULT_LIFETIME_SECONDS = 43200 * 60

_SALT = b"aerovane.session_cookie"
_PASSWORD_SALT = b"aerovane.session_cookie.password"
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


def issue_session_cookie(
    user_id: int,
    *,
    epoch: int = 0,
    password: str | None = None,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    now: float | None = None,
) -> str:
    """The value of a `session` cookie signing in user `user_id` for `lifetime_seconds`, bound
    to their `session_epoch` and (given) stored password hash (see the module docstring)."""
    issued = time.time() if now is None else now
    body: dict[str, Any] = {"uid": int(user_id), "exp": int(issued + lifetime_seconds)}
    body["ep"] = int(epoch)
    if password is not None:
        body["pw"] = password_fingerprint(password)
    payload = _b64encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_signature(_current_key(), payload)}"


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a valid cookie says: who, the epoch it was issued in, and the password's
    fingerprint then (None in cookies issued without one)."""

    user_id: int
    epoch: int
    password: str | None

    def still_holds(self, session_epoch: int, stored_password: str | None) -> bool:
        """Whether the user has neither signed out nor changed password since."""
        if self.epoch != session_epoch:
            return False
        if self.password is None:
            return True
        current = password_fingerprint(stored_password or "")
        return hmac.compare_digest(self.password.encode(), current.encode())


def password_fingerprint(stored: str) -> str:
    """A keyed digest of a stored password hash: it changes with the password and tells a
    cookie's reader nothing about the hash."""
    return _signature(purpose_key(_PASSWORD_SALT), stored)[:22]


def read_session(value: str, *, now: float | None = None) -> SessionClaims | None:
    """The claims of a cookie value, or None if it is forged, malformed or expired."""
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
    user_id, expires = body.get("uid"), body.get("exp")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(expires, int):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    epoch, password = body.get("ep", 0), body.get("pw")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        return None
    if password is not None and not isinstance(password, str):
        return None
    return SessionClaims(user_id, epoch, password)


def read_session_cookie(value: str, *, now: float | None = None) -> int | None:
    """The user id a cookie value signs in, or None if it is forged, malformed or expired."""
    claims = read_session(value, now=now)
    return None if claims is None else claims.user_id
