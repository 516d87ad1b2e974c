"""The sign-in page for people: local accounts (ab_user) and, optionally, an upstream OpenID
Connect provider.

`GET /_aerovane/login` shows the form; `POST` checks the username and password (the KDF runs in
the threadpool; repeated failures are throttled as for the token endpoint's password grant,
`aerovane.identity.throttle`) and, on success, sets the proxy's session cookie and redirects to
the page the person first asked for, which must be on this host. Every form carries a fresh
signed `state` whose nonce is also a cookie (`GCP_IAP_XSRF_NONCE_<nonce>`), and a POST is
accepted only with both (and, when the browser sends one, a same-origin `Origin`): a cross-site
page cannot sign someone in as someone else. `GET /_aerovane/logout` (or
`?gcp-iap-mode=CLEAR_LOGIN_COOKIE` on any URL) clears the cookie and ends all of the person's
sessions (see `aerovane.proxy.session`).

With `[proxy] oidc_issuer` set, `/_aerovane/oidc/start` sends the browser to the provider and
`/_aerovane/oidc/callback` completes the authorization-code flow; a person who passes the
access policy and has no account yet gets one (role `[api] composer_auth_user_registration_role`,
no password). Each sign-in is recorded in the account's `last_login`/`login_count`
(`aerovane.auth.sign_ins`). This module never logs a password, a code or a token.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route, Router

from aerovane.auth.passwords import burn_verification, verify_user_password
from aerovane.auth.sign_ins import record_failed_sign_in, record_sign_in
from aerovane.auth.users import create_user, find_user, find_user_by_email
from aerovane.config import get_settings
from aerovane.db.engine import create_session
from aerovane.identity import Principal, throttle
from aerovane.proxy.allowlist import CLIENT_ADDRESS_KEY
from aerovane.proxy.auth import LOGIN_PATH, request_base_url
from aerovane.proxy.oidc import OidcError, OidcProvider
from aerovane.proxy.policy import binding_policy, configured_policy
from aerovane.proxy.session import (
    NONCE_COOKIE_PREFIX,
    SESSION_COOKIE,
    STATE_LIFETIME,
    SignInState,
    clear_cookie_value,
    decode_session,
    end_sessions,
    new_state,
    read_state,
    session_for,
    set_cookie_value,
)
from aerovane.services.errors import AlreadyExists, BadRequest

log = logging.getLogger(__name__)

LOGOUT_PATH = "/_aerovane/logout"
OIDC_START_PATH = "/_aerovane/oidc/start"
OIDC_CALLBACK_PATH = "/_aerovane/oidc/callback"
MAX_FORM_BYTES = 16 * 1024
_NO_STORE = {"cache-control": "no-store"}

_PAGE = """<!DOCTYPE html>
<html lang=en>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:15px/22px arial,sans-serif;margin:8% auto 0;max-width:360px;padding:24px}}
label,input,button,a.button{{display:block;width:100%;box-sizing:border-box;margin:6px 0}}
input{{padding:8px}}button,a.button{{padding:9px;text-align:center}}.error{{color:#b00020}}</style>
<h1>{title}</h1>
{body}
</html>
"""


# -- redirects and cookies ------------------------------------------------------------------------


def same_host_redirect(target: str, base_url: str) -> str | None:
    """`target` when it stays on this host (a path, or an absolute URL naming this host)."""
    if not target or any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in target):
        return None
    if target.startswith("/"):
        return None if target.startswith("//") else base_url + target
    parts = urlsplit(target)
    base = urlsplit(base_url)
    if parts.scheme in ("http", "https") and parts.netloc.lower() == base.netloc.lower():
        return target
    return None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _nonce_cookie(request: Request, state: SignInState) -> bool:
    return request.cookies.get(NONCE_COOKIE_PREFIX + state.nonce) == "1"


def _nonce_cookie_value(request: Request, state: SignInState) -> str:
    return set_cookie_value(
        NONCE_COOKIE_PREFIX + state.nonce, "1", max_age=STATE_LIFETIME, secure=_secure(request)
    )


def _lifetime() -> int:
    return get_settings().getint("proxy", "session_lifetime")


def _signed_in(request: Request, cookie: str, state: SignInState) -> Response:
    base = request_base_url(request.scope)
    target = same_host_redirect(state.redirect_uri, base) or base + "/"
    response = RedirectResponse(target, status_code=302, headers=_NO_STORE)
    response.headers.append(
        "set-cookie",
        set_cookie_value(SESSION_COOKIE, cookie, max_age=_lifetime(), secure=_secure(request)),
    )
    response.headers.append(
        "set-cookie", clear_cookie_value(NONCE_COOKIE_PREFIX + state.nonce, secure=_secure(request))
    )
    return response


# -- the form -------------------------------------------------------------------------------------


def _requested_redirect(request: Request) -> str:
    base = request_base_url(request.scope)
    state = read_state(request.query_params.get("state", ""))
    if state is not None and same_host_redirect(state.redirect_uri, base):
        return state.redirect_uri
    return same_host_redirect(request.query_params.get("redirect_uri", ""), base) or base + "/"


def _form_page(
    request: Request, redirect_uri: str, *, status: int = 200, error: str | None = None
) -> Response:
    """The sign-in form with a fresh `state` (and its nonce cookie)."""
    token, state = new_state(redirect_uri)
    parts = []
    if error:
        parts.append(f"<p class=error role=alert>{html.escape(error)}</p>")
    parts.append(
        f'<form method=post action="{LOGIN_PATH}">'
        f'<input type=hidden name=state value="{html.escape(token)}">'
        "<label for=username>Username</label>"
        "<input id=username name=username autocomplete=username required autofocus>"
        "<label for=password>Password</label>"
        "<input id=password name=password type=password autocomplete=current-password required>"
        "<button type=submit>Sign in</button></form>"
    )
    issuer = get_settings().getstr("proxy", "oidc_issuer")
    if issuer:
        parts.append(
            f'<a class=button href="{OIDC_START_PATH}?state={quote(token)}">'
            f"Sign in with {html.escape(urlsplit(issuer).netloc or issuer)}</a>"
        )
    response = Response(
        _PAGE.format(title="Sign in to Aerovane", body="\n".join(parts)),
        status_code=status,
        media_type="text/html",
        headers=_NO_STORE,
    )
    response.headers.append("set-cookie", _nonce_cookie_value(request, state))
    return response


async def login_page(request: Request) -> Response:
    return _form_page(request, _requested_redirect(request))


async def _read_form(request: Request) -> dict[str, str] | None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin.lower() == request_base_url(request.scope).lower()  # not a secret


def check_password(
    username: str, password: str, address: str | None = None
) -> tuple[Principal, str] | None:
    """The principal of an active local account with this password and a session cookie for
    them (one KDF run either way); `throttle.Throttled` while guesses from `address` or at
    this account must wait, without checking the password."""
    signed_in = None
    with create_session(readonly=True) as session:
        throttle.check(username, address, session=session)
        user = find_user(username, session=session)
        if user is None:
            burn_verification(password)
        elif verify_user_password(user.username, user.password, password) and user.active:
            signed_in = session_for(user, lifetime=_lifetime())
    if signed_in is not None and user is not None:
        throttle.record_success(username, address)
        record_sign_in(user.id)
        return signed_in
    throttle.record_failure(username, address)
    if user is not None and user.active:
        record_failed_sign_in(user.id)
    return None


async def login_submit(request: Request) -> Response:
    base = request_base_url(request.scope)
    if not _same_origin(request):
        return _form_page(request, base + "/", status=403, error="Cross-site sign-in refused.")
    form = await _read_form(request)
    if form is None:
        return _form_page(request, base + "/", status=400, error="Malformed sign-in form.")
    state = read_state(form.get("state", ""))
    if state is None or not _nonce_cookie(request, state):
        return _form_page(
            request, base + "/", status=400, error="This sign-in page expired; please try again."
        )
    username, password = form.get("username", ""), form.get("password", "")
    address = request.scope.get(CLIENT_ADDRESS_KEY)
    try:
        signed_in = (
            await run_in_threadpool(check_password, username, password, address)
            if username
            else None
        )
    except throttle.Throttled as exc:
        log.warning("proxy sign-in throttled after repeated failures")
        response = _form_page(
            request,
            state.redirect_uri,
            status=429,
            error="Too many failed attempts. Please wait a few minutes and try again.",
        )
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    if signed_in is None:
        log.info("proxy sign-in failed for a local account")
        return _form_page(
            request, state.redirect_uri, status=401, error="Invalid username or password."
        )
    principal, cookie = signed_in
    log.info("proxy sign-in: %s", principal.email)
    return _signed_in(request, cookie, state)


# -- sign-out -------------------------------------------------------------------------------------


def _end_sessions(cookie: str) -> None:
    proxy_session = decode_session(cookie)
    if proxy_session is None:
        return
    with create_session() as session:
        end_sessions(proxy_session, db=session)


async def signed_out(request: Request) -> Response:
    """Clear the cookie and end the person's sessions server-side, so a copy of the cookie
    (another tab, a proxy log, a stolen one) stops working too."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await run_in_threadpool(_end_sessions, cookie)
    body = f'<p>You are signed out.</p><p><a href="{LOGIN_PATH}">Sign in again</a></p>'
    response = Response(
        _PAGE.format(title="Signed out", body=body), media_type="text/html", headers=_NO_STORE
    )
    response.headers.append(
        "set-cookie", clear_cookie_value(SESSION_COOKIE, secure=_secure(request))
    )
    return response


async def logout(request: Request) -> Response:
    return await signed_out(request)


# -- an upstream OpenID Connect provider ----------------------------------------------------------

_providers: dict[tuple[str, str, str], OidcProvider] = {}


def oidc_provider() -> OidcProvider | None:
    """The provider for the current settings (one client per configuration)."""
    settings = get_settings()
    config = (
        settings.getstr("proxy", "oidc_issuer"),
        settings.getstr("proxy", "oidc_client_id"),
        settings.getstr("proxy", "oidc_client_secret"),
    )
    if not config[0] or not config[1]:
        return None
    provider = _providers.get(config)
    if provider is None:
        provider = _providers[config] = OidcProvider(*config)
    return provider


async def close_providers() -> None:
    while _providers:
        _, provider = _providers.popitem()
        await provider.aclose()


def _error_page(request: Request, status: int, message: str) -> Response:
    return _form_page(request, request_base_url(request.scope) + "/", status=status, error=message)


async def oidc_start(request: Request) -> Response:
    provider = oidc_provider()
    if provider is None:
        return _error_page(request, 404, "No identity provider is configured.")
    state_token = request.query_params.get("state", "")
    state = read_state(state_token)
    if state is None or not _nonce_cookie(request, state):
        return _error_page(request, 400, "This sign-in page expired; please try again.")
    callback = request_base_url(request.scope) + OIDC_CALLBACK_PATH
    try:
        url = await provider.authorization_url(
            redirect_uri=callback, state=state_token, nonce=state.nonce
        )
    except OidcError as exc:
        return _error_page(request, 502, f"Sign-in failed: {exc}")
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


def oidc_account(claims: dict[str, Any]) -> tuple[Principal, str] | None:
    """The local account for a provider's verified email, created if the policy admits it, and
    a session cookie for it."""
    email = str(claims["email"])
    settings = get_settings()
    with create_session() as session:
        user = find_user_by_email(email, session=session)
        if user is None:
            kind = "user"
            if not configured_policy(settings.getstr("proxy", "allowed_members")).admits(
                kind, email
            ) and not binding_policy(session=session).admits(kind, email):
                return None
            role = settings.getstr("api", "composer_auth_user_registration_role")
            try:
                user = create_user(
                    username=email,
                    email=email,
                    first_name=str(claims.get("given_name") or email)[:256],
                    last_name=str(claims.get("family_name") or "-")[:256],
                    role_names=[role],
                    password=None,
                    session=session,
                )
            except (AlreadyExists, BadRequest) as exc:
                log.warning("proxy: cannot register %s: %s", email, exc)
                return None
            log.info("proxy: registered %s from the identity provider (role %s)", email, role)
        if not user.active:
            return None
        signed_in = session_for(user, lifetime=_lifetime())
    record_sign_in(user.id)
    return signed_in


async def oidc_callback(request: Request) -> Response:
    provider = oidc_provider()
    if provider is None:
        return _error_page(request, 404, "No identity provider is configured.")
    state = read_state(request.query_params.get("state", ""))
    if state is None or not _nonce_cookie(request, state):
        return _error_page(request, 400, "This sign-in page expired; please try again.")
    if "error" in request.query_params or not request.query_params.get("code"):
        return _error_page(request, 401, "The identity provider did not sign you in.")
    callback = request_base_url(request.scope) + OIDC_CALLBACK_PATH
    try:
        claims = await provider.exchange_code(
            request.query_params["code"], redirect_uri=callback, nonce=state.nonce
        )
    except OidcError as exc:
        log.warning("proxy: sign-in with the identity provider failed: %s", exc)
        return _error_page(request, 401, f"Sign-in failed: {exc}")
    signed_in = await run_in_threadpool(oidc_account, claims)
    if signed_in is None:
        return _error_page(request, 403, "You don't have access to this application.")
    principal, cookie = signed_in
    log.info("proxy sign-in through the identity provider: %s", principal.email)
    return _signed_in(request, cookie, state)


def login_router() -> Router:
    return Router(
        routes=[
            Route(LOGIN_PATH, login_page, methods=["GET"]),
            Route(LOGIN_PATH, login_submit, methods=["POST"]),
            Route(LOGOUT_PATH, logout, methods=["GET", "POST"]),
            Route(OIDC_START_PATH, oidc_start, methods=["GET"]),
            Route(OIDC_CALLBACK_PATH, oidc_callback, methods=["GET"]),
        ]
    )
