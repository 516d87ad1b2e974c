"""`create_proxy_app(upstream)`: the identity-aware proxy in front of the API server.

Layers, outermost first: the request id (a new one for every request, whatever the client
sent: `logs/request_id.py`), the token service's public routes (token endpoint, discovery,
certificates), which answer anyone without authentication as Google's own endpoints do, and
are no part of the web server its IP allow-list guards (a key file's `token_uri` must work from
wherever its holder is); then the IP allow-list (refuses before any other work), identity-header
stripping and credential-header limits, then the sign-in pages and, for everything else,
authentication and the access policy in front of the forwarder (and in front of the proxy's own
`/_aerovane/proxy/metrics`). The metadata server
(`/computeMetadata/*`) is for workloads on the host and is never served here.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from aerovane.config import Settings, get_settings
from aerovane.logs.request_id import RequestIdMiddleware
from aerovane.metrics.server import exposition
from aerovane.proxy.allowlist import AllowListMiddleware, CurrentPolicy
from aerovane.proxy.auth import IapAuthMiddleware
from aerovane.proxy.forward import Forwarder, HttpUpstream, InProcessUpstream, Upstream
from aerovane.proxy.headers import IdentityHeadersMiddleware
from aerovane.proxy.login import close_providers, login_router, signed_out

#: Token-service routes served without authentication (as Google serves them publicly).
PUBLIC_PREFIXES = (
    "/token",
    "/.well-known/",
    "/oauth2/",
    "/iap/verify/",
    "/service_accounts/v1/metadata/",
)
OWN_PREFIX = "/_aerovane/"
#: The proxy's own figures (its auth decisions and the token service's answers); the API's
#: `/metrics` is forwarded like any other path.
METRICS_PATH = "/_aerovane/proxy/metrics"
METRICS_PREFIXES = ("aerovane_proxy_", "aerovane_identity_")
METADATA_PREFIX = "/computeMetadata"


def token_service_app() -> tuple[ASGIApp, tuple[BaseRoute, ...]]:
    """The identity router's public routes as an app of their own (no metadata server)."""
    from aerovane.identity import router

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    routes = tuple(
        route for route in router.routes if getattr(route, "path", "").startswith(PUBLIC_PREFIXES)
    )
    app.router.routes.extend(routes)
    return app, routes


class ProxyApp:
    """Routes a request to the public routes, the sign-in pages or the protected upstream."""

    def __init__(self, upstream: Upstream, *, settings: Callable[[], Settings]) -> None:
        self.upstream = upstream
        self.protected = IapAuthMiddleware(
            Forwarder(upstream, settings=settings), settings=settings
        )
        self.login = login_router()
        self.metrics = IapAuthMiddleware(_serve_metrics, settings=settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope["path"]
        if path == METRICS_PATH:
            await self.metrics(scope, receive, send)
        elif path.startswith(OWN_PREFIX):
            await self.login(scope, receive, send)
        elif path == METADATA_PREFIX or path.startswith(METADATA_PREFIX + "/"):
            await _not_found(send)
        elif b"CLEAR_LOGIN_COOKIE" in scope.get("query_string", b"") and _clear_cookie_mode(scope):
            response = await signed_out(Request(scope))
            await response(scope, receive, send)
        else:
            await self.protected(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.upstream.aclose()
                await close_providers()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _serve_metrics(scope: Scope, receive: Receive, send: Send) -> None:
    """Only to callers the proxy admits (authenticated, within the access policy), and only the
    proxy's and token service's families: in standalone the process registry also holds DAG
    and task names, which the API shows only to `Cluster Activity` readers."""
    if scope["method"] not in ("GET", "HEAD"):
        response = PlainTextResponse("405 Method Not Allowed\n", status_code=405)
    else:
        response = Response(exposition(METRICS_PREFIXES), media_type=CONTENT_TYPE_LATEST)
    await response(scope, receive, send)


def _clear_cookie_mode(scope: Scope) -> bool:
    query = scope.get("query_string", b"").decode("latin-1")
    return ("gcp-iap-mode", "CLEAR_LOGIN_COOKIE") in parse_qsl(query)


async def _not_found(send: Send) -> None:
    body = b"404 Not Found\n"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_proxy_app(
    upstream: ASGIApp | str, *, settings: Callable[[], Settings] = get_settings
) -> ASGIApp:
    """The proxy in front of `upstream`: an ASGI app called in-process (standalone) or the base
    URL of an API server elsewhere (`http://host:port`)."""
    target: Upstream = (
        HttpUpstream(upstream) if isinstance(upstream, str) else InProcessUpstream(upstream)
    )
    app: ASGIApp = ProxyApp(target, settings=settings)
    app = IdentityHeadersMiddleware(app)
    app = TokenServiceRoutes(AllowListMiddleware(app, settings=settings), settings=settings)
    # Outermost: every request, refused or not, gets an id: the one a load balancer listed in
    # `[proxy] trusted_proxies` sent, else the proxy's own (a client's is dropped).
    return RequestIdMiddleware(
        app,
        trust_incoming=CurrentPolicy(settings).trusts_peer,
        access_logger=(
            "aerovane.proxy.access" if settings().getboolean("logging", "access_log") else None
        ),
    )


class TokenServiceRoutes:
    """The token service's public routes, answered before the web server's layers.

    Their `client` is the caller as the allow-list would judge it (behind `[proxy]
    trusted_proxies`, the right-most untrusted X-Forwarded-For hop), so throttling password
    guesses per address counts callers, not the load balancer in front of us.
    """

    def __init__(self, app: ASGIApp, *, settings: Callable[[], Settings] = get_settings) -> None:
        self.app = app
        self.tokens, self._routes = token_service_app()
        self._policy = CurrentPolicy(settings)

    def _caller(self, scope: Scope) -> Scope:
        policy = self._policy()
        client = scope.get("client")
        if not policy.trusted or not client:
            return scope
        headers = scope.get("headers", ())
        forwarded = [
            value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"
        ]
        address = policy.client_address(client[0], forwarded)
        return {**scope, "client": (str(address) if address else "unknown", client[1])}

    def _is_public(self, scope: Scope) -> bool:
        if scope["type"] != "http" or not scope["path"].startswith(PUBLIC_PREFIXES):
            return False
        return any(route.matches(scope)[0] is not Match.NONE for route in self._routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._is_public(scope):
            await self.tokens(self._caller(scope), receive, send)
        else:
            await self.app(scope, receive, send)
