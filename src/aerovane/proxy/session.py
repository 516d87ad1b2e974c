"""The proxy's signed cookies: the login session and the sign-in `state`.

Both are HMAC-signed with `[webserver] secret_key` (per-purpose salts, so one never passes for
the other) and carry their own expiry. The session cookie is HttpOnly, SameSite=Lax, Path=/,
and Secure whenever the request came over TLS. The `state` of a sign-in binds the page to
return to and a nonce; the nonce is also set as a cookie named after it (as IAP's
`GCP_IAP_XSRF_NONCE_<nonce>`), so a sign-in can only be completed by the browser that started
it. This module knows nothing about how people prove who they are.

A session also ends before its expiry, in every worker at once: the cookie carries the person's
`session_epoch` (which signing out moves on) and a fingerprint of their password hash (which any
password change replaces: CLI, API, control plane or SQL), and `session_is_current` compares both
with the account's row on each request, in the one indexed read the proxy makes anyway.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from aerovane.api.signing import BadSignature, dumps, loads
from aerovane.auth import sessions as user_sessions
from aerovane.auth.sessions import password_fingerprint
from aerovane.db import models
from aerovane.identity import Principal
from aerovane.identity.principals import USER_ID_BASE, is_user_id, principal_for_user

SESSION_COOKIE = "GCP_IAP_AUTH_TOKEN"
NONCE_COOKIE_PREFIX = "GCP_IAP_XSRF_NONCE_"
STATE_LIFETIME = 600

_SESSION_SALT = "aerovane.proxy.session"
_STATE_SALT = "aerovane.proxy.state"


@dataclass(frozen=True, slots=True)
class ProxySession:
    principal: Principal
    expires_at: int
    #: The account's `session_epoch` when the cookie was issued.
    epoch: int
    #: `password_fingerprint` of the account's password hash when the cookie was issued.
    password: str


def encode_session(principal: Principal, *, lifetime: int, epoch: int, password: str) -> str:
    """A cookie value; `epoch` and `password` (a `password_fingerprint`) are the account's now."""
    return dumps(
        {
            "k": principal.kind,
            "e": principal.email,
            "u": principal.unique_id,
            "x": int(time.time()) + lifetime,
            "g": epoch,
            "p": password,
        },
        salt=_SESSION_SALT,
    )


def session_for(user: models.User, *, lifetime: int) -> tuple[Principal, str]:
    """The principal of `user` and a session cookie value for them, issued now."""
    principal = principal_for_user(user)
    value = encode_session(
        principal,
        lifetime=lifetime,
        epoch=user.session_epoch or 0,
        password=password_fingerprint(user.password),
    )
    return principal, value


def decode_session(value: str) -> ProxySession | None:
    """The session in a cookie value, or None if it is forged, malformed or expired (whether it
    was revoked is `session_is_current`'s question)."""
    try:
        data = loads(value, salt=_SESSION_SALT)
        principal = Principal(kind=data["k"], email=data["e"], unique_id=data["u"])
        expires_at = int(data["x"])
        epoch, password = data["g"], data["p"]
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    if expires_at <= time.time():
        return None
    if not all(isinstance(v, str) for v in (principal.kind, principal.email, principal.unique_id)):
        return None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not isinstance(password, str):
        return None
    return ProxySession(principal, expires_at, epoch, password)


_ACCOUNT = select(
    models.User.active, models.User.email, models.User.password, models.User.session_epoch
).where(models.User.id == bindparam("id"))


def session_is_current(proxy_session: ProxySession, *, db: Session | Connection) -> bool:
    """Whether the session's person still exists, is active, has the same email and password,
    and has not signed out since (one primary-key read)."""
    unique_id = proxy_session.principal.unique_id
    if proxy_session.principal.kind != "user" or not is_user_id(unique_id):
        return False
    row = db.execute(_ACCOUNT, {"id": int(unique_id) - USER_ID_BASE}).first()
    if row is None:
        return False
    active, email, password_hash, epoch = row
    return (
        bool(active)
        and str(email).lower() == proxy_session.principal.email.lower()
        and epoch == proxy_session.epoch
        and hmac.compare_digest(password_fingerprint(password_hash), proxy_session.password)
    )


def end_sessions(proxy_session: ProxySession, *, db: Session) -> None:
    """Sign the person out everywhere: move their epoch on, unless it moved already (a cookie
    revoked before cannot keep signing others out)."""
    unique_id = proxy_session.principal.unique_id
    if proxy_session.principal.kind != "user" or not is_user_id(unique_id):
        return
    user_sessions.end_sessions(int(unique_id) - USER_ID_BASE, proxy_session.epoch, session=db)


@dataclass(frozen=True, slots=True)
class SignInState:
    redirect_uri: str
    nonce: str


def new_state(redirect_uri: str) -> tuple[str, SignInState]:
    nonce = secrets.token_urlsafe(12)
    token = dumps(
        {"r": redirect_uri, "n": nonce, "x": int(time.time()) + STATE_LIFETIME},
        salt=_STATE_SALT,
    )
    return token, SignInState(redirect_uri, nonce)


def read_state(token: str) -> SignInState | None:
    try:
        data = loads(token, salt=_STATE_SALT)
        state = SignInState(str(data["r"]), str(data["n"]))
        expires_at = int(data["x"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    return state if expires_at > time.time() else None


def parse_cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - http.cookies raises CookieError and others on junk
        return {}
    return {key: morsel.value for key, morsel in jar.items()}


def set_cookie_value(
    name: str, value: str, *, max_age: int, secure: bool, http_only: bool = True
) -> str:
    """A Set-Cookie header value (Path=/, SameSite=Lax)."""
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "SameSite=Lax"]
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_cookie_value(name: str, *, secure: bool) -> str:
    return set_cookie_value(name, "", max_age=0, secure=secure)
