"""`/`: where a browser lands, redirected to `/home`, the DAG list (Airflow's path, served by
`www.routes.dags`)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import RedirectResponse, Response

from aerovane.auth.permissions import READ
from aerovane.www.auth import HOME_PATH
from aerovane.www.errors import PageRoute
from aerovane.www.nav import add_link

router = APIRouter(route_class=PageRoute, include_in_schema=False)

add_link("DAGs", "DAGs", HOME_PATH, (READ, "DAGs"), order=0)


@router.get("/")
async def root() -> Response:
    return RedirectResponse(HOME_PATH, status_code=302)
