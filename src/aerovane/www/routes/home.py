"""`/` and `/home`: where a browser lands. `/home` is the DAG list (Airflow's path)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from aerovane.auth.permissions import READ
from aerovane.www.access import requires_page_dag_access
from aerovane.www.auth import HOME_PATH
from aerovane.www.errors import PageRoute
from aerovane.www.nav import add_link
from aerovane.www.templating import render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

add_link("DAGs", "DAGs", HOME_PATH, (READ, "DAGs"), order=0)


@router.get("/")
async def root() -> Response:
    return RedirectResponse(HOME_PATH, status_code=302)


@router.get(HOME_PATH, dependencies=[Depends(requires_page_dag_access("GET"))])
async def home(request: Request) -> Response:
    return render(request, "home.html")
