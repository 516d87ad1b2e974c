"""The proxy's signed cookies: the login session and the sign-in `state`.

Both are HMAC-signed with `[webserver] secret_key` (per-purpose salts, so one never passes for
the other) and carry their own expiry. The session cookie is HttpOnly, SameSite=Lax, Path=/,
and Secure whenever the request came over TLS. The `state` of a sign-in binds the page to
return to and a nonce; the nonce is also set as a cookie named after it (as IAP's
`GCP_IAP_XSRF_NONCE_<nonce>`), so a sign-in can only be completed by the browser that started
it. This module knows nothing about how people prove who they are.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

from aerovane.api.signing import BadSignature, dumps, loads
from aerovane.identity import Principal

SESSION_COOKIE = "GCP_IAP_AUTH_TOKEN"
NONCE_COOKIE_PREFIX = "GCP_IAP_XSRF_NONCE_"
STATE_LIFETIME = 600

_SESSION_SALT = "aerovane.proxy.session"
_STATE_SALT = "aerovane.proxy.state"


@dataclass(frozen=True, slots=True)
class ProxySession:
    principal: Principal
    expires_at: int


def encode_session(principal: Principal, *, lifetime: int) -> str:
    return dumps(
        {
            "k": principal.kind,
            "e": principal.email,
            "u": principal.unique_id,
            "x": int(time.time()) + lifetime,
        },
        salt=_SESSION_SALT,
    )


def decode_session(value: str) -> ProxySession | None:
    """The session in a cookie value, or None if it is forged, malformed or expired."""
    try:
        data = loads(value, salt=_SESSION_SALT)
        principal = Principal(kind=data["k"], email=data["e"], unique_id=data["u"])
        expires_at = int(data["x"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    if expires_at <= time.time():
        return None
    if not all(isinstance(v, str) for v in (principal.kind, principal.email, principal.unique_id)):
        return None
    return ProxySession(principal, expires_at)


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
