"""Forwarding an admitted request upstream with the identity IAP would vouch for.

The client's credential header the proxy consumed, `Proxy-Authorization` and the proxy's own
cookies are removed; `X-Goog-Authenticated-User-Email: <ns>:<email>`,
`X-Goog-Authenticated-User-Id: <ns>:<unique_id>` and `X-Goog-IAP-JWT-Assertion` are added
(namespace `[proxy] identity_namespace`), and `X-Forwarded-For/-Proto/-Host` are the proxy's
own (the client the allow-list judged). Assertions live 10 minutes and are reused per principal
for half of that, so the hot path signs nothing.

Two upstreams: `InProcessUpstream` calls the API's ASGI app directly (standalone: no network
hop, the body streams straight through), `HttpUpstream` streams to an API server elsewhere with
httpx. This module decides nothing about access; it only relays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerovane.auth.token_cache import unverified_claims
from aerovane.config import Settings, get_settings
from aerovane.db.engine import create_session

if TYPE_CHECKING:
    import httpx
from aerovane.identity import Principal, iap_audience, sign_iap_assertion
from aerovane.proxy.allowlist import CLIENT_ADDRESS_KEY
from aerovane.proxy.auth import CONSUMED_HEADER_KEY, PRINCIPAL_KEY
from aerovane.proxy.session import NONCE_COOKIE_PREFIX, SESSION_COOKIE

log = logging.getLogger(__name__)

EMAIL_HEADER = b"x-goog-authenticated-user-email"
ID_HEADER = b"x-goog-authenticated-user-id"
ASSERTION_HEADER = b"x-goog-iap-jwt-assertion"

_PROXY_AUTHORIZATION = b"proxy-authorization"
_COOKIE = b"cookie"
_OWN_COOKIES = (SESSION_COOKIE + "=", NONCE_COOKIE_PREFIX)
#: Set by the proxy alone: what the client sent is dropped (the allow-list judged the client).
_REPLACED = frozenset(
    {
        _PROXY_AUTHORIZATION,
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
    }
)
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)


# -- assertions -----------------------------------------------------------------------------------

AssertionKey = tuple[str, str, str, str, str]


class AssertionCache:
    """Signed assertions per (principal, audience, namespace), reused for half their life."""

    def __init__(self, *, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[AssertionKey, tuple[str, float]] = OrderedDict()

    def get(self, key: AssertionKey) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def put(self, key: AssertionKey, token: str) -> None:
        now = time.time()
        exp = unverified_claims(token).get("exp")
        if not isinstance(exp, int | float):
            return
        with self._lock:
            self._entries[key] = (token, now + max(0.0, (exp - now) / 2))
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _sign(principal: Principal, audience: str, namespace: str) -> str:
    with create_session(readonly=True) as session:
        return sign_iap_assertion(
            principal, audience=audience, namespace=namespace, session=session
        )


# -- headers --------------------------------------------------------------------------------------


def _without_own_cookies(value: bytes) -> bytes:
    parts = [p for p in value.decode("latin-1").split(";") if p.strip()]
    kept = [p for p in parts if not p.strip().startswith(_OWN_COOKIES)]
    return ";".join(kept).strip().encode("latin-1")


def upstream_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    consumed: bytes | None,
    identity: list[tuple[bytes, bytes]],
) -> list[tuple[bytes, bytes]]:
    """The client's headers minus what only the proxy may set or see, plus the identity
    headers."""
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name == consumed or name in _REPLACED:
            continue
        if name == _COOKIE and b"GCP_IAP_" in value:
            value = _without_own_cookies(value)
            if not value:
                continue
        out.append((name, value))
    out.extend(identity)
    return out


# -- upstreams ------------------------------------------------------------------------------------


class Upstream(Protocol):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def aclose(self) -> None: ...


class InProcessUpstream:
    """The API app in this process: the request is handed over as it is, no copy, no socket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def aclose(self) -> None:
        return None


class HttpUpstream:
    """An API server reached over HTTP (`[proxy] api_host`/`api_port`), streamed both ways."""

    def __init__(self, base_url: str, *, timeout: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        import httpx  # in-process upstreams (standalone) never load an HTTP client

        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=10.0),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        import httpx

        client = self._http()
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.base_url + path + (f"?{query}" if query else "")
        incoming = scope.get("headers", ())
        headers = [(n, v) for n, v in incoming if n not in _HOP_BY_HOP]
        headers.extend(_forwarded_headers(scope))
        has_body = any(n in (b"content-length", b"transfer-encoding") for n, _ in incoming)
        request = client.build_request(
            scope["method"], url, headers=headers, content=_body(receive) if has_body else None
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("upstream %s unreachable: %s", self.base_url, type(exc).__name__)
            await _bad_gateway(send)
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (n, v) for n, v in response.headers.raw if n.lower() not in _HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


def _forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    client = scope.get(CLIENT_ADDRESS_KEY) or (scope.get("client") or ("",))[0]
    host = next((v for n, v in scope.get("headers", ()) if n == b"host"), b"")
    out = [(b"x-forwarded-proto", scope.get("scheme", "http").encode())]
    if client:
        out.append((b"x-forwarded-for", str(client).encode("latin-1")))
    if host:
        out.append((b"x-forwarded-host", host))
    return out


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _bad_gateway(send: Send) -> None:
    body = b"502 Bad Gateway: the API server is not reachable\n"
    await send(
        {
            "type": "http.response.start",
            "status": 502,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- the forwarder --------------------------------------------------------------------------------


class Forwarder:
    """The innermost app of the proxy: add identity headers and hand over to the upstream."""

    def __init__(
        self, upstream: Upstream, *, settings: Callable[[], Settings] = get_settings
    ) -> None:
        self.upstream = upstream
        self.assertions = AssertionCache()
        self._settings = settings
        self._target: tuple[Settings, str, str] | None = None

    def _audience_and_namespace(self) -> tuple[str, str]:
        settings = self._settings()
        cached = self._target
        if cached is None or cached[0] is not settings:
            # New settings may mean another database or secret: sign afresh.
            self.assertions.clear()
            cached = (settings, iap_audience(), settings.getstr("proxy", "identity_namespace"))
            self._target = cached
        return cached[1], cached[2]

    async def assertion(self, principal: Principal, audience: str, namespace: str) -> str:
        key = (principal.kind, principal.email, principal.unique_id, audience, namespace)
        token = self.assertions.get(key)
        if token is None:
            # Signing may create the first `iap` key (a write): never on the event loop.
            token = await run_in_threadpool(_sign, principal, audience, namespace)
            self.assertions.put(key, token)
        return token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal = scope[PRINCIPAL_KEY]
        audience, namespace = self._audience_and_namespace()
        assertion = await self.assertion(principal, audience, namespace)
        identity = [
            (EMAIL_HEADER, f"{namespace}:{principal.email}".encode()),
            (ID_HEADER, f"{namespace}:{principal.unique_id}".encode()),
            (ASSERTION_HEADER, assertion.encode("ascii")),
        ]
        headers = upstream_headers(
            scope.get("headers", ()), consumed=scope.get(CONSUMED_HEADER_KEY), identity=identity
        )
        forwarded = {**scope, "headers": headers}
        if isinstance(self.upstream, InProcessUpstream):
            # Relayed as an HTTP proxy would relay it: the API sees who the client is, and
            # anything that must only answer local callers (the metadata server) sees a relay.
            headers.extend(_forwarded_headers(scope))
            client = scope.get(CLIENT_ADDRESS_KEY)
            if client is not None:
                forwarded["client"] = (client, (scope.get("client") or ("", 0))[1])
        await self.upstream(forwarded, receive, send)
