"""`IapAuthMiddleware`: who is calling, and may they use the application at all.

Credentials, in order: `Proxy-Authorization: Bearer` or `Authorization: Bearer` (an ID token
whose audience is the OAuth client id, or an access token with the cloud-platform scope, both
issued by Aerovane's token service), else the proxy's signed session cookie (set by the sign-in
page). IAP's order of refusal is kept: first authentication (401 with IAP's bodies; a browser's
GET without credentials is sent to the sign-in page with 302), then the access policy (403).
On success the principal is stored in the scope for the forwarder; this module never talks to
the upstream and never sees a password.

Token checks need the database (signing keys, the principal still enabled). On SQLite they run
inline on the event loop (reads never wait and are pure CPU); on PostgreSQL in the threadpool.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from aerovane.auth.token_cache import (
    VerifiedTokenCache,
    check_principal,
    unverified_claims,
    unverified_header,
)
from aerovane.config import Settings, get_settings
from aerovane.db.engine import create_session, get_engine
from aerovane.identity import (
    Principal,
    TokenError,
    oauth_client_id,
    verify_access_token,
    verify_id_token,
)
from aerovane.metrics import Stats
from aerovane.proxy import responses
from aerovane.proxy.policy import binding_policy, configured_policy
from aerovane.proxy.session import (
    NONCE_COOKIE_PREFIX,
    SESSION_COOKIE,
    STATE_LIFETIME,
    decode_session,
    new_state,
    parse_cookies,
    session_is_current,
    set_cookie_value,
)

#: Scope keys set for the forwarder.
PRINCIPAL_KEY = "aerovane.principal"
CONSUMED_HEADER_KEY = "aerovane.credential_header"

LOGIN_PATH = "/_aerovane/login"
ACCESS_TOKEN_TYPE = "at+jwt"

_BEARER = "bearer"
_PROXY_AUTHORIZATION = b"proxy-authorization"
_AUTHORIZATION = b"authorization"
_REASON_ALIASES = {
    # A key we never published signed it: to the caller that is a bad signature, as with IAP.
    "Unknown JWT key id": "JWT signature is invalid",
}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presents. `bearer` is "" for `Bearer` with no token."""

    bearer: str | None = None
    bearer_header: bytes | None = None
    session_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    principal: Principal | None = None
    #: The 401 reason when authentication failed; None with no principal = no credentials.
    error: str | None = None
    admitted: bool = False


def read_credentials(headers: Iterable[tuple[bytes, bytes]]) -> Credentials:
    bearer: dict[bytes, str] = {}
    cookie_headers: list[str] = []
    for name, value in headers:
        if name in (_AUTHORIZATION, _PROXY_AUTHORIZATION):
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == _BEARER:
                bearer[name] = token.strip()
        elif name == b"cookie":
            cookie_headers.append(value.decode("latin-1"))
    # Proxy-Authorization wins: it is how a caller whose app uses Authorization talks to IAP.
    for name in (_PROXY_AUTHORIZATION, _AUTHORIZATION):
        if name in bearer:
            return Credentials(bearer=bearer[name], bearer_header=name)
    for header in cookie_headers:
        value = parse_cookies(header).get(SESSION_COOKIE)
        if value:
            return Credentials(session_cookie=value)
    return Credentials()


# -- the decision (sync, one read-only connection or session) -------------------------------------


def verify_bearer(token: str, *, session: Session) -> Principal:
    """An ID token for this application, or an access token (told apart by `typ: at+jwt`)."""
    if not token:
        raise TokenError(responses.EMPTY_TOKEN)
    if unverified_header(token).get("typ") == ACCESS_TOKEN_TYPE:
        return verify_access_token(token, session=session)
    audience = oauth_client_id()
    try:
        return verify_id_token(token, audience=audience, session=session)
    except TokenError as exc:
        if exc.reason == "Not an ID token":
            return verify_access_token(token, session=session)
        if exc.reason == "Invalid JWT audience":
            raise TokenError(_audience_reason(token, audience)) from None
        raise


#: Bearer tokens already verified (signature, times, issuer, audience, scope).
verified_bearers: VerifiedTokenCache[Principal] = VerifiedTokenCache()

#: `aerovane.db.engine`'s execution option for read-only work (a plain BEGIN on SQLite).
_READONLY_OPTION = "aerovane_readonly"


@contextlib.contextmanager
def _reader() -> Iterator[Connection]:
    """A read-only Core connection: the per-request checks need no ORM session."""
    with get_engine().execution_options(**{_READONLY_OPTION: True}).connect() as connection:
        yield connection


def _audience_reason(token: str, expected: str) -> str:
    """IAP's wording. Only reached once the signature was verified, so `aud` is ours to show."""
    aud: Any = unverified_claims(token).get("aud")
    shown = ",".join(aud) if isinstance(aud, list) else str(aud)
    shown = "".join(ch for ch in shown if ch.isprintable())[:200]
    return (
        "JWT audience doesn't match this application "
        f"('aud' claim ({shown}) doesn't match expected value ({expected}))"
    )


def _admits(principal: Principal, settings: Settings, db: Session | Connection) -> bool:
    policy = configured_policy(settings.getstr("proxy", "allowed_members"))
    if policy.admits(principal.kind, principal.email):
        return True
    return binding_policy(session=db).admits(principal.kind, principal.email)


def _refusal(credentials: Credentials, exc: TokenError) -> Decision:
    if credentials.bearer is None:
        return Decision()  # a stale session cookie is no credential: sign in again
    return Decision(error=_REASON_ALIASES.get(exc.reason, exc.reason))


def decide(credentials: Credentials, settings: Settings) -> Decision:
    """Authenticate `credentials` and apply the access policy.

    A token verified before (or a session cookie, whose signature is checked here) costs one
    indexed query: its principal must still exist and be enabled (and a session must not have
    been ended by signing out or a password change). A new token is verified in full by the
    token service's checks and remembered until it expires.
    """
    token = credentials.bearer
    if token is None and credentials.session_cookie is None:
        return Decision()
    verified_bearers.bind(settings)
    if token is None:
        proxy_session = decode_session(credentials.session_cookie or "")
        if proxy_session is None:
            return Decision()
        with _reader() as connection:
            if not session_is_current(proxy_session, db=connection):
                return Decision()  # signed out, password changed, or gone: sign in again
            person = proxy_session.principal
            return Decision(principal=person, admitted=_admits(person, settings, connection))
    known = verified_bearers.get(token) if token else None
    if known is not None:
        with _reader() as connection:
            try:
                check_principal(known.unique_id, known.email, session=connection)
            except TokenError as exc:
                return _refusal(credentials, exc)
            return Decision(principal=known, admitted=_admits(known, settings, connection))
    with create_session(readonly=True) as session:
        try:
            principal = verify_bearer(token, session=session)
        except TokenError as exc:
            return _refusal(credentials, exc)
        verified_bearers.put(token, principal)
        return Decision(principal=principal, admitted=_admits(principal, settings, session))


async def run_db_read(fn: Callable[..., T], *args: Any, inline: bool) -> T:
    """Inline (SQLite: reads never wait) or in the threadpool (PostgreSQL)."""
    if inline:
        return fn(*args)
    return await run_in_threadpool(fn, *args)


# -- unauthenticated requests ---------------------------------------------------------------------


def accepts_html(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the client can follow a redirect to a page: Accept names text/html, text/* or
    */* (curl, requests and httpx send */*; no Accept at all means anything)."""
    values = [value.decode("latin-1") for name, value in headers if name == b"accept"]
    if not values:
        return True
    for item in ",".join(values).split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() not in ("text/html", "text/*", "*/*"):
            continue
        quality = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            if float(quality) > 0:
                return True
        except ValueError:
            continue
    return False


def request_base_url(scope: Scope) -> str:
    """`scheme://host` as the client addressed us (Host header, else the bound address)."""
    host = next((v.decode("latin-1") for n, v in scope.get("headers", ()) if n == b"host"), "")
    if not host or any(ch in host for ch in "/\\@?# \t"):
        name, port = scope.get("server") or ("localhost", None)
        name = f"[{name}]" if ":" in name else name
        host = name if port is None else f"{name}:{port}"
    return f"{scope.get('scheme', 'http')}://{host}"


def request_url(scope: Scope) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    url = request_base_url(scope) + path.decode("latin-1")
    return url + ("?" + query.decode("latin-1") if query else "")


def login_redirect(scope: Scope) -> Response:
    """302 to the sign-in page, carrying the signed `state` and setting its nonce cookie."""
    redirect_uri = request_url(scope)
    state, parsed = new_state(redirect_uri)
    query = urlencode(
        [
            ("client_id", oauth_client_id()),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("response_type", "code"),
            ("scope", "openid email"),
        ],
        quote_via=quote,
    )
    response = responses.credentials_error(responses.EMPTY_TOKEN, status=302)
    response.headers["location"] = f"{request_base_url(scope)}{LOGIN_PATH}?{query}"
    response.headers.append(
        "set-cookie",
        set_cookie_value(
            NONCE_COOKIE_PREFIX + parsed.nonce,
            "1",
            max_age=STATE_LIFETIME,
            secure=scope.get("scheme") == "https",
        ),
    )
    return response


def _identity_mode(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return b"gcp-iap-mode" in query and ("gcp-iap-mode", "IDENTITY") in parse_qsl(
        query.decode("latin-1")
    )


class IapAuthMiddleware:
    """Answer 302/401/403 as IAP would, or pass the request on with its principal."""

    def __init__(self, app: ASGIApp, *, settings: Callable[[], Settings] = get_settings) -> None:
        self.app = app
        self._settings = settings
        self._inline: tuple[Settings, bool] | None = None
        # Fail start-up, not the first request, if the policy or client id cannot be read.
        current = settings()
        configured_policy(current.getstr("proxy", "allowed_members"))
        oauth_client_id()

    def _runs_inline(self, settings: Settings) -> bool:
        cached = self._inline
        if cached is None or cached[0] is not settings:
            cached = (settings, get_engine().dialect.name == "sqlite")
            self._inline = cached
        return cached[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        credentials = read_credentials(headers)
        settings = self._settings()
        if credentials.bearer is None and credentials.session_cookie is None:
            decision = Decision()
        else:
            decision = await run_db_read(
                decide, credentials, settings, inline=self._runs_inline(settings)
            )
        principal = decision.principal
        if principal is None:
            if decision.error is not None:
                _count(False, "invalid_credentials")
                response = responses.credentials_error(decision.error)
            else:
                _count(False, "no_credentials")
                if scope["method"] in ("GET", "HEAD") and accepts_html(headers):
                    response = login_redirect(scope)
                else:
                    response = responses.credentials_error(responses.EMPTY_TOKEN)
            await response(scope, receive, send)
            return
        if not decision.admitted:
            _count(False, "not_permitted")
            await responses.access_denied(principal.email)(scope, receive, send)
            return
        _count(True, "bearer" if credentials.bearer is not None else "session")
        if _identity_mode(scope):
            await _identity_response(principal, settings)(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        scope[CONSUMED_HEADER_KEY] = credentials.bearer_header
        await self.app(scope, receive, send)


def _count(allowed: bool, reason: str) -> None:
    result = "allowed" if allowed else "denied"
    Stats.incr("proxy.auth", tags={"result": result, "reason": reason})


def _identity_response(principal: Principal, settings: Settings) -> Response:
    """`?gcp-iap-mode=IDENTITY`: who IAP thinks you are."""
    namespace = settings.getstr("proxy", "identity_namespace")
    body = {"email": f"{namespace}:{principal.email}", "sub": f"{namespace}:{principal.unique_id}"}
    return Response(json.dumps(body), media_type="application/json", headers=responses.GENERATED)
