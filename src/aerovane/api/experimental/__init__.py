"""The deprecated experimental API, `/api/experimental` (Airflow 1.10's, kept by Airflow 2 behind
`[api] enable_experimental_api`).

It is mounted always, behind `ExperimentalApi`, which reads the flag on every request: while it is
off, every path under the prefix is the same 404 as any unknown route, so turning it on or off in
a live configuration needs no restart. Its routes are built on the first request that finds it
on, so a server where it is off (the default) does not pay for them at start-up. Responses of
its routes carry `Deprecation` and `Link` headers. Authentication is the first configured
backend only, whose own refusal is the response; there is no RBAC (any authenticated caller may
do anything), exactly as in Airflow.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerovane import AIRFLOW_COMPAT_VERSION
from aerovane.api.middleware import LazyApp
from aerovane.config import get_settings

PREFIX = "/api/experimental"

DEPRECATION_LINK = (
    f"<https://airflow.apache.org/docs/apache-airflow/{AIRFLOW_COMPAT_VERSION}/upgrading-to-2.html"
    '#migration-guide-from-experimental-api-to-stable-api-v1>; rel="deprecation"; type="text/html"'
)


def enabled() -> bool:
    return get_settings().getboolean("api", "enable_experimental_api")


class ExperimentalApi:
    """404 (raised to the app's handler, so the body is that of any unknown route) while
    disabled; otherwise the routes, with the deprecation headers added."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self.app = LazyApp(build)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not enabled():
            raise HTTPException(status_code=404)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Deprecation"] = "true"
                link = headers.get("link")
                headers["Link"] = f"{link}, {DEPRECATION_LINK}" if link else DEPRECATION_LINK
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app() -> ASGIApp:
    """The ASGI app to mount at `PREFIX`."""

    def build() -> ASGIApp:
        from aerovane.api.experimental.endpoints import router

        return router

    return ExperimentalApi(build)
