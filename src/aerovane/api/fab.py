"""`/auth/fab/v1`: the user, role and permission API that Airflow 2.9+ serves from its FAB
provider (`airflow-fab-v1.yaml`).

The same routers as `/api/v1/{users,roles,permissions}`, in a sub-application with its own
OpenAPI document (`/auth/fab/v1/openapi.json`), the same error shapes, strict query parameters,
authentication chain and permissions (`Users`, `Roles`, `Permissions`; Admin only by default).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from starlette.middleware import Middleware

from aerovane.api.deps import reject_unknown_query_params
from aerovane.api.errors import UnhandledErrorMiddleware, install_error_handlers
from aerovane.api.v1 import permissions, roles, users

PREFIX = "/auth/fab/v1"

router = APIRouter(dependencies=[Depends(reject_unknown_query_params)])
router.include_router(roles.router)
router.include_router(permissions.router)
router.include_router(users.router)


def create_app() -> FastAPI:
    """The sub-application to mount at `PREFIX`."""
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
    app.include_router(router)
    return app
