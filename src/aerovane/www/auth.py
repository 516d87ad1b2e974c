"""Who is using the web UI, with the API's own authentication (`aerovane.api.deps`).

Behind the identity-aware proxy the person is the proxy's signed assertion (the `iap` backend:
found by subject or auto-registered with `[api] composer_auth_user_registration_role`, exactly
as API callers are); without the proxy, the signed `session` cookie the sign-in form sets (the
`session` backend). The UI tries those two backends whatever `[api] auth_backends` says: a
browser cannot answer a Basic challenge gracefully, and a configured `default` backend (anyone
is an admin) must not open the pages to the world.

This module owns the page principal dependency and the sign-in form; access checks are in
`aerovane.www.access`.
"""

from __future__ import annotations

import functools
import logging
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from aerovane.api.deps import DbSession, Principal, authenticate, read_session_for, run_db
from aerovane.api.errors import ApiError
from aerovane.auth.backends.base import AuthBackend, load_backends
from aerovane.auth.backends.iap import ASSERTION_HEADER
from aerovane.auth.passwords import burn_verification, verify_user_password
from aerovane.auth.sessions import (
    SESSION_COOKIE,
    SessionCookie,
    end_sessions,
    issue_session_cookie,
    read_session_cookie,
)
from aerovane.auth.users import find_user
from aerovane.db.engine import create_session
from aerovane.identity import throttle
from aerovane.proxy.allowlist import CLIENT_ADDRESS_KEY
from aerovane.www import csrf
from aerovane.www.errors import PageError, PageRoute, SignInRequired, error_page

log = logging.getLogger(__name__)

UI_BACKENDS = ("aerovane.auth.backends.iap", "aerovane.auth.backends.session")
LOGIN_PATH = "/login/"
LOGOUT_PATH = "/logout/"
HOME_PATH = "/home"
#: The proxy's sign-out (it clears its own cookie and shows its sign-in page).
PROXY_SIGN_OUT = "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"
_PRINCIPAL_STATE = "principal"


@functools.cache
def ui_backends() -> tuple[AuthBackend, ...]:
    return load_backends(UI_BACKENDS)


async def page_principal(request: Request, session: DbSession) -> Principal:
    """The signed-in person, or `SignInRequired`."""
    found = getattr(request.state, _PRINCIPAL_STATE, None)
    if isinstance(found, Principal):
        return found
    read = read_session_for(session)
    try:
        principal = await run_db(read, authenticate, request, read, ui_backends())
    except ApiError:
        raise SignInRequired() from None
    setattr(request.state, _PRINCIPAL_STATE, principal)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def current_principal(request: Request) -> Principal | None:
    """The principal a dependency already found for this request (for templates)."""
    found = getattr(request.state, _PRINCIPAL_STATE, None)
    return found if isinstance(found, Principal) else None


def safe_next(target: str | None) -> str:
    """A local path to return to after signing in; anything else (another site) is home."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return HOME_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return HOME_PATH
    return target


async def sign_in_required(request: Request, exc: Exception) -> Response:
    """Where a request without a usable identity goes: through the proxy, a page saying why
    (the proxy vouched for someone who has no active user); otherwise the sign-in form."""
    if ASSERTION_HEADER in request.headers:
        return error_page(
            request,
            403,
            "Your account has no active Aerovane user. Ask an administrator to create or "
            "activate one (Admin > Users).",
        )
    if request.method not in ("GET", "HEAD"):
        return error_page(request, 401, "You are not signed in.")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='/')}", status_code=303)


def _check_password(username: str, password: str, address: str | None) -> str | None:
    """A `session` cookie value for the active user with this password (one KDF run either
    way), else None; `throttle.Throttled` while guesses must wait, without checking it."""
    with create_session(readonly=True) as session:
        throttle.check(username, address, session=session)
        user = find_user(username, session=session)
        if user is None:
            burn_verification(password)
        elif verify_user_password(user.username, user.password, password) and user.active:
            throttle.record_success(username, address)
            return issue_session_cookie(
                int(user.id), epoch=user.session_epoch or 0, password_hash=user.password
            )
    throttle.record_failure(username, address)
    return None


def _end_sessions(cookie: SessionCookie) -> None:
    with create_session() as session:
        end_sessions(cookie.user_id, cookie.epoch, session=session)


def _address(request: Request) -> str | None:
    address = request.scope.get(CLIENT_ADDRESS_KEY)
    if address:
        return str(address)
    return request.client.host if request.client else None


def build_router() -> APIRouter:
    from aerovane.www.forms import parse_form
    from aerovane.www.templating import render

    router = APIRouter(route_class=PageRoute, include_in_schema=False)

    def login_form(request: Request, *, error: str = "", status: int = 200) -> Response:
        return render(
            request,
            "login.html",
            {"next": safe_next(request.query_params.get("next")), "error": error},
            status=status,
        )

    @router.get(LOGIN_PATH)
    async def login(request: Request) -> Response:
        if ASSERTION_HEADER in request.headers:
            # Through the proxy, the person already signed in there.
            return RedirectResponse(safe_next(request.query_params.get("next")), 303)
        return login_form(request)

    @router.post(LOGIN_PATH)
    async def login_submit(request: Request) -> Response:
        form = await parse_form(request)
        if not csrf.is_valid(request, "", form.get(csrf.FIELD)):
            return login_form(request, error="This sign-in page expired; try again.", status=403)
        username, password = form.get("username"), form.get("password")
        try:
            cookie = (
                await run_in_threadpool(_check_password, username, password, _address(request))
                if username
                else None
            )
        except throttle.Throttled as exc:
            response = login_form(
                request,
                error="Too many failed attempts. Please wait a few minutes and try again.",
                status=429,
            )
            response.headers["retry-after"] = str(exc.retry_after)
            return response
        if cookie is None:
            return login_form(request, error="Invalid username or password.", status=401)
        response = RedirectResponse(safe_next(form.get("next")), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            httponly=True,
            samesite="lax",
            secure=csrf.is_secure(request),
            path="/",
        )
        # A new person gets a new CSRF nonce: tokens from the signed-out form end here.
        response.delete_cookie(csrf.COOKIE, path="/")
        return response

    @router.post(LOGOUT_PATH)
    async def logout(request: Request, principal: PagePrincipal) -> Response:
        form = await parse_form(request)
        if not csrf.is_valid(request, principal.username or "", form.get(csrf.FIELD)):
            raise PageError(403, "The form has expired or did not come from this site; reload it.")
        proxied = ASSERTION_HEADER in request.headers
        cookie = read_session_cookie(request.cookies.get(SESSION_COOKIE) or "")
        if cookie is not None and not proxied:
            # Every copy of the cookie ends, and every other session of this person.
            await run_in_threadpool(_end_sessions, cookie)
        response = RedirectResponse(PROXY_SIGN_OUT if proxied else LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(csrf.COOKIE, path="/")
        return response

    return router
