"""`/users`: list, create, get, update and delete users (FAB's user API).

Served at `/api/v1` (deprecated there, as in Airflow 2.9+) and at `/auth/fab/v1`. Domain rules
(validation, uniqueness, password hashing) are `aerovane.auth.users`; a changed password takes
effect at once, because basic auth's verification cache is keyed on the stored hash.
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
from aerovane.api.v1.datamodels.users import (
    UserBody,
    UserCollectionResponse,
    UserPatchBody,
    UserResponse,
    user_to_dict,
)
from aerovane.auth import users as user_service
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.db.models import User
from aerovane.services.errors import NotFound

RESOURCE = "Users"

router = APIRouter(prefix="/users", tags=["User"])

# Airflow's names, plus the attribute names they stand for.
_ORDER_BY = {
    "id": User.id,
    "user_id": User.id,
    "first_name": User.first_name,
    "last_name": User.last_name,
    "username": User.username,
    "user_name": User.username,
    "email": User.email,
    "active": User.active,
    "is_active": User.active,
}

UpdateMask = Annotated[list[str] | None, Query()]


def _not_found(exc: NotFound) -> ApiError:
    return ApiError(404, str(exc), title="User not found")


@router.get(
    "",
    operation_id="get_users",
    dependencies=[Depends(requires_access(READ, RESOURCE))],
    response_model=None,
    responses={200: {"model": UserCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_users(session: DbSession, page: PageParams, order_by: str | None = None) -> JSONResponse:
    order = order_by_clauses(order_by, allowed=_ORDER_BY, default="id", tiebreakers=[User.id])
    rows, total = fetch_page(session, select(User), page, order)
    return JSONResponse({"users": [user_to_dict(row[0]) for row in rows], "total_entries": total})


@router.post(
    "",
    operation_id="post_user",
    dependencies=[Depends(requires_access(CREATE, RESOURCE)), Depends(audit("post_user"))],
    response_model=None,
    responses={200: {"model": UserResponse}, **error_responses(400, 401, 403, 409)},
)
@db_handler
def post_user(body: UserBody, session: DbSession) -> JSONResponse:
    user = user_service.register_user(
        username=body.username,
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        role_names=[role.name for role in body.roles or ()],
        password=body.password,
        session=session,
    )
    return JSONResponse(user_to_dict(user))


@router.get(
    "/{username}",
    operation_id="get_user",
    dependencies=[Depends(requires_access(READ, RESOURCE))],
    response_model=None,
    responses={200: {"model": UserResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_user(username: str, session: DbSession) -> JSONResponse:
    try:
        user = user_service.get_user(username, session=session)
    except NotFound as exc:
        raise _not_found(exc) from None
    return JSONResponse(user_to_dict(user))


@router.patch(
    "/{username}",
    operation_id="patch_user",
    dependencies=[Depends(requires_access(EDIT, RESOURCE)), Depends(audit("patch_user"))],
    response_model=None,
    responses={200: {"model": UserResponse}, **error_responses(400, 401, 403, 404, 409)},
)
@db_handler
def patch_user(
    username: str, body: UserPatchBody, session: DbSession, update_mask: UpdateMask = None
) -> JSONResponse:
    try:
        user = user_service.get_user(username, session=session)
    except NotFound as exc:
        raise _not_found(exc) from None
    changes = body.changes()
    mask = split_csv(update_mask)
    if mask:
        # Airflow applies only the masked fields, each of which the body must carry.
        missing = [name for name in mask if name not in changes]
        if missing:
            raise ApiError(
                400, f"Unknown update masks: {', '.join(repr(name) for name in missing)}"
            )
        changes = {name: changes[name] for name in mask}
    user_service.update_user(user, changes, session=session)
    return JSONResponse(user_to_dict(user))


@router.delete(
    "/{username}",
    operation_id="delete_user",
    status_code=204,
    dependencies=[Depends(requires_access(DELETE, RESOURCE)), Depends(audit("delete_user"))],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_user(username: str, session: DbSession) -> Response:
    try:
        user_service.delete_user(username, session=session)
    except NotFound as exc:
        raise _not_found(exc) from None
    return Response(status_code=204)
