"""The web UI: server-rendered pages (Jinja2 templates, htmx) served by the API app.

`install(app)` adds the pages, the sign-in form, the static files (`/static`, vendored
libraries included: `static/vendor/README.md`) and Swagger UI (`/api/v1/ui`) to the API's
FastAPI app, and makes the API's error handlers answer HTML pages on page routes. Pages gather
data from `services` and render templates: no SQL here, no domain logic. Who is signed in comes
from the API's auth backends (`www.auth`), what they may do from the API's RBAC (`www.access`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerovane.www import auth
from aerovane.www.errors import (
    bare_error_page,
    install_page_errors,
    is_page_path,
    is_page_scope,
    server_error_page,
)

__all__ = ["bare_error_page", "install", "is_page_path", "is_page_scope", "server_error_page"]

STATIC_PREFIX = "/static"
SWAGGER = f"{STATIC_PREFIX}/vendor/swagger-ui-5.35.0"
#: Static files change only with a release (names carry versions, aerovane.css `?v=`).
_CACHE = (b"cache-control", b"public, max-age=86400")


class _Cached:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = {**message, "headers": [*message.get("headers", ()), _CACHE]}
            await send(message)

        await self.app(scope, receive, send_wrapper)


def page_routers() -> list:  # type: ignore[type-arg]
    from aerovane.www.routes import (
        browse,
        configuration,
        connections,
        dags,
        home,
        pools,
        roles,
        task_instances,
        users,
        variables,
    )

    return [
        home.router,
        dags.router,
        task_instances.router,
        browse.router,
        users.router,
        roles.router,
        connections.router,
        variables.router,
        pools.router,
        configuration.router,
    ]


def install(app: FastAPI, *, openapi_url: str, docs_url: str) -> None:
    install_page_errors(app, auth.sign_in_required)
    app.include_router(auth.build_router())
    for router in page_routers():
        app.include_router(router)

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )

    app.add_api_route(docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
    app.mount(
        STATIC_PREFIX, _Cached(StaticFiles(packages=[("aerovane.www", "static")])), name="static"
    )
