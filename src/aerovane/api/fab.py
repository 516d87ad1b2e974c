"""`/auth/fab/v1`: the user, role and permission API that Airflow 2.9+ serves from its FAB
provider (`airflow-fab-v1.yaml`).

The same routers as `/api/v1/{users,roles,permissions}`, in a sub-application with its own
OpenAPI document (`/auth/fab/v1/openapi.json`), the same error shapes, strict query parameters,
authentication chain and permissions (`Users`, `Roles`, `Permissions`; Admin only by default).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.middleware import Middleware

from aerovane.api.deps import reject_unknown_query_params
from aerovane.api.errors import UnhandledErrorMiddleware, install_error_handlers

PREFIX = "/auth/fab/v1"


def create_app() -> FastAPI:
    """The sub-application to mount at `PREFIX` (imports its routers only now: the parent app
    builds it on its first request)."""
    from aerovane.api.v1 import permissions, roles, users

    app = FastAPI(
        title="Flask App Builder User & Role API",
        version="1.0.0",
        openapi_url="/openapi.json",
        docs_url="/ui",
        redoc_url=None,
        # Inside the sub-app's own ServerErrorMiddleware, so failures are problem+json too.
        middleware=[Middleware(UnhandledErrorMiddleware)],
    )
    install_error_handlers(app)
    for resource in (roles, permissions, users):
        app.include_router(resource.router, dependencies=[Depends(reject_unknown_query_params)])
    return app
