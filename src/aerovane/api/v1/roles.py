"""`/roles`: list, create, get, update and delete roles (FAB's role API).

Served at `/api/v1` (deprecated there) and `/auth/fab/v1`. Permissions named in a body must use
actions and resources that exist (400 otherwise). PATCH adds the listed permissions and removes
none, exactly as Airflow 2's FAB provider does (`bulk_sync_roles`); `aerovane roles del-perms`
removes them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from aerovane.api.deps import DbSession, audit, db_handler, requires_access
from aerovane.api.errors import ApiError
from aerovane.api.pagination import PageParams, fetch_page, order_by_clauses
from aerovane.api.params import split_csv
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.roles import (
    RoleBody,
    RoleCollectionResponse,
    RolePatchBody,
    RoleResponse,
    role_to_dict,
)
from aerovane.auth import roles as role_service
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.db.models import Role
from aerovane.services.errors import NotFound

RESOURCE = "Roles"

router = APIRouter(prefix="/roles", tags=["Role"])

_ORDER_BY = {"name": Role.name, "role_id": Role.id, "id": Role.id}
_PATCHABLE = ("name", "actions")

UpdateMask = Annotated[list[str] | None, Query()]


def _not_found(exc: NotFound) -> ApiError:
    return ApiError(404, str(exc), title="Role not found")


def _role_dict(role: Role) -> dict[str, object]:
    return role_to_dict(role.name, role_service.role_permission_pairs(role))


@router.get(
    "",
    operation_id="get_roles",
    dependencies=[Depends(requires_access(READ, RESOURCE))],
    response_model=None,
    responses={200: {"model": RoleCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_roles(session: DbSession, page: PageParams, order_by: str | None = None) -> JSONResponse:
    order = order_by_clauses(order_by, allowed=_ORDER_BY, default="name", tiebreakers=[Role.id])
    rows, total = fetch_page(session, select(Role), page, order)
    return JSONResponse({"roles": [_role_dict(row[0]) for row in rows], "total_entries": total})


@router.post(
    "",
    operation_id="post_role",
    dependencies=[Depends(requires_access(CREATE, RESOURCE)), Depends(audit("post_role"))],
    response_model=None,
    responses={200: {"model": RoleResponse}, **error_responses(400, 401, 403, 409)},
)
@db_handler
def post_role(body: RoleBody, session: DbSession) -> JSONResponse:
    role = role_service.create_role(body.name, body.perms() or (), session=session)
    return JSONResponse(_role_dict(role))


@router.get(
    "/{role_name}",
    operation_id="get_role",
    dependencies=[Depends(requires_access(READ, RESOURCE))],
    response_model=None,
    responses={200: {"model": RoleResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_role(role_name: str, session: DbSession) -> JSONResponse:
    try:
        role = role_service.get_role(role_name, session=session)
    except NotFound as exc:
        raise _not_found(exc) from None
    return JSONResponse(_role_dict(role))


@router.patch(
    "/{role_name}",
    operation_id="patch_role",
    dependencies=[Depends(requires_access(EDIT, RESOURCE)), Depends(audit("patch_role"))],
    response_model=None,
    responses={200: {"model": RoleResponse}, **error_responses(400, 401, 403, 404, 409)},
)
@db_handler
def patch_role(
    role_name: str, body: RolePatchBody, session: DbSession, update_mask: UpdateMask = None
) -> JSONResponse:
    try:
        role = role_service.get_role(role_name, session=session)
    except NotFound as exc:
        raise _not_found(exc) from None
    given = body.model_fields_set
    mask = split_csv(update_mask)
    for name in mask:
        if name not in _PATCHABLE or name not in given:
            raise ApiError(400, f"'{name}' in update_mask is unknown")
    fields = set(mask) if mask else given
    role_service.update_role(
        role,
        name=body.name if "name" in fields else None,
        perms=body.perms() if "actions" in fields else None,
        session=session,
    )
    return JSONResponse(_role_dict(role))


@router.delete(
    "/{role_name}",
    operation_id="delete_role",
    status_code=204,
    dependencies=[Depends(requires_access(DELETE, RESOURCE)), Depends(audit("delete_role"))],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_role(role_name: str, session: DbSession) -> Response:
    try:
        role_service.delete_role(role_name, session=session)
    except NotFound as exc:
        raise _not_found(exc) from None
    return Response(status_code=204)
