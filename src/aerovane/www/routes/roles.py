"""Admin > Roles: the roles and, for each, its permissions grouped by resource (read-only:
roles are edited with the API or `aerovane roles`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.permissions import READ
from aerovane.auth.roles import all_roles, get_role, role_permission_pairs
from aerovane.www.access import requires_page_access
from aerovane.www.errors import PageRoute
from aerovane.www.nav import add_link
from aerovane.www.templating import render

ROLES = "Roles"
LIST = "/roles/list/"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Roles", LIST, (READ, ROLES), order=20)


@router.get(LIST, dependencies=[Depends(requires_page_access(READ, ROLES))])
@db_handler
def list_roles(request: Request, session: DbSession) -> Response:
    roles = [(role.name, len(role.permissions)) for role in all_roles(session=session)]
    return render(request, "admin/roles.html", {"roles": roles})


@router.get("/roles/show/{name:path}", dependencies=[Depends(requires_page_access(READ, ROLES))])
@db_handler
def show_role(request: Request, name: str, session: DbSession) -> Response:
    role = get_role(name, session=session)
    by_resource: dict[str, list[str]] = {}
    for action, resource in role_permission_pairs(role):
        by_resource.setdefault(resource, []).append(action)
    return render(request, "admin/role.html", {"name": role.name, "resources": by_resource})
