"""Plain ASGI middleware for cross-cutting response headers, and lazily built sub-apps.

`NoStoreMiddleware` gives every response `Cache-Control: no-store` unless it set its own, as
Airflow's API does, so proxies and browsers never cache API data.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CACHE_CONTROL = b"cache-control"
_NO_STORE = (_CACHE_CONTROL, b"no-store")


class NoStoreMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == _CACHE_CONTROL for name, _ in headers):
                    headers.append(_NO_STORE)
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


class LazyApp:
    """An ASGI app built on its first call (a mounted sub-application most servers never use,
    whose routes would only lengthen start-up)."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    @property
    def app(self) -> ASGIApp:
        if self._app is None:
            self._app = self._build()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
