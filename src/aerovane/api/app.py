"""`create_app()`: the FastAPI application serving `/api/v1` (and `/health` at the root, as
Airflow's webserver does), and the web UI's pages (`aerovane.www`).

Settings are read per request through `aerovane.config.get_settings()` where that is cheap
(auth backends, page limits, secrets), so a reloaded configuration takes effect without a
restart; the configured auth backends are loaded once here so a broken one fails start-up.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from aerovane import __version__, identity, www
from aerovane.api import experimental, fab, metrics, v1
from aerovane.api.deps import backend_chain, requires_access
from aerovane.api.errors import UnhandledErrorMiddleware, install_error_handlers, internal_error
from aerovane.api.middleware import LazyApp, NoStoreMiddleware
from aerovane.api.request_body import RequestBodyMiddleware, problem_responder
from aerovane.api.v1 import monitoring
from aerovane.auth.permissions import READ
from aerovane.config import get_settings
from aerovane.control import routes as control_plane
from aerovane.control.errors import GoogleError
from aerovane.db.engine import analyze_missing_statistics
from aerovane.logs.request_id import RequestIdMiddleware
from aerovane.services import remote_logs

_CONTROL_PLANE_PREFIXES = tuple(f"/{version}/" for version in control_plane.API_VERSIONS)


def _body_error(scope: Scope, status: int, detail: str) -> Response:
    """A refused request body in the error shape of the API it was sent to."""
    path = scope.get("path", "")
    if path.startswith(_CONTROL_PLANE_PREFIXES):
        return GoogleError(status, detail).response()
    if path.startswith(experimental.PREFIX):
        return JSONResponse({"error": detail}, status_code=status)
    if www.is_page_path(path):
        return www.bare_error_page(status, detail)
    return problem_responder(scope, status, detail)


def _unhandled_error(scope: Scope, correlation_id: str) -> Response:
    """A 500 nothing else handled: a page for the browser, problem+json for everyone else."""
    if www.is_page_scope(scope):
        return www.server_error_page(500, correlation_id)
    return internal_error(correlation_id)


def create_app() -> FastAPI:
    settings = get_settings()
    backend_chain(settings)
    remote_logs.check()  # the log reader: a URL whose fsspec implementation is missing
    analyze_missing_statistics()
    app = FastAPI(
        title="Aerovane",
        summary="Apache Airflow 2 compatible stable REST API",
        version=__version__,
        openapi_url=f"{v1.PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI with its assets served here: `www.install`
        redoc_url=None,
        middleware=[
            # The proxy's id (or a direct caller's well-formed label, else a new one).
            Middleware(
                RequestIdMiddleware,
                trust_incoming=True,
                access_logger=(
                    "aerovane.api.access" if settings.getboolean("logging", "access_log") else None
                ),
            ),
            Middleware(metrics.RequestMetricsMiddleware),
            Middleware(NoStoreMiddleware),
            Middleware(UnhandledErrorMiddleware, respond=_unhandled_error),
            Middleware(
                RequestBodyMiddleware,
                respond=_body_error,
                # Flask's `get_json(force=True)` there: any content type, after authentication.
                parse_their_own=(experimental.PREFIX,),
            ),
        ],
    )
    install_error_handlers(app)
    v1.include_routers(app)
    app.include_router(identity.router)  # /token, OIDC certs, IAP keys, metadata server
    app.include_router(control_plane.router)  # /v1[beta1]/projects/*/locations/*/environments
    app.add_api_route(
        "/health",
        monitoring.get_health,
        methods=["GET"],
        response_model=None,
        include_in_schema=False,
    )
    app.add_api_route(
        "/metrics",
        metrics.get_metrics,
        methods=["GET"],
        response_model=None,
        include_in_schema=False,
        dependencies=[Depends(requires_access(READ, "Cluster Activity"))],
    )
    app.mount(fab.PREFIX, LazyApp(fab.create_app))  # its routes on first use
    app.mount(experimental.PREFIX, experimental.create_app())
    www.install(app, openapi_url=f"{v1.PREFIX}/openapi.json", docs_url=f"{v1.PREFIX}/ui")
    return app
