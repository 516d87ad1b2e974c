"""CSRF protection for the web UI's forms: a signed double-submit token.

A random nonce lives in the `aerovane_csrf` cookie (HttpOnly, SameSite=Lax, Secure behind TLS);
each form carries `csrf_token` = HMAC(key, nonce | username), keyed by `[webserver] secret_key`
through a purpose-specific derivation. A post is accepted only if its token matches the cookie's
nonce for the person posting: a cross-site page can neither read the cookie nor compute the
token, and a token minted for one person (or for the signed-out sign-in form) is worthless for
another. htmx requests send the token as the `X-CSRF-Token` header instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from aerovane.auth.sessions import purpose_key

COOKIE = "aerovane_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
_SALT = b"aerovane.www.csrf"
_NONCE_STATE = "csrf_nonce"


def _token(nonce: str, username: str) -> str:
    mac = hmac.new(purpose_key(_SALT), f"{nonce}|{username}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def _nonce(request: Request) -> str:
    """The request's nonce: the cookie's, or a new one the response will set."""
    nonce = getattr(request.state, _NONCE_STATE, None)
    if nonce is None:
        cookie = request.cookies.get(COOKIE, "")
        nonce = cookie if 20 <= len(cookie) <= 100 and cookie.isascii() else None
        if nonce is None:
            nonce = secrets.token_urlsafe(32)
            request.state.csrf_new = True
        setattr(request.state, _NONCE_STATE, nonce)
    return nonce


def token_for(request: Request, username: str) -> str:
    return _token(_nonce(request), username)


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly or through the proxy): cookies then
    carry `Secure`. A forged `X-Forwarded-Proto` can only make a cookie stricter."""
    if request.url.scheme == "https":
        return True
    return request.headers.get("x-forwarded-proto", "").lower() == "https"


def set_cookie(request: Request, response: Response) -> None:
    """Give the browser the nonce a rendered form's token was made from, if it lacks it."""
    if getattr(request.state, "csrf_new", False):
        response.set_cookie(
            COOKIE,
            _nonce(request),
            httponly=True,
            samesite="lax",
            secure=is_secure(request),
            path="/",
        )


def is_valid(request: Request, username: str, submitted: str | None) -> bool:
    cookie = request.cookies.get(COOKIE)
    if not cookie or not submitted:
        return False
    expected = _token(cookie, username)
    return hmac.compare_digest(expected.encode("ascii"), submitted.encode("utf-8", "replace"))
