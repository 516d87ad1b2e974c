"""`/variables`: list, create (or replace), get, update and delete variables.

Values of keys that look sensitive are shown as `"***"` everywhere, including the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.responses import Response

from aerovane.api.deps import DbSession, audit, db_handler, requires_access
from aerovane.api.errors import ApiError, from_service_error
from aerovane.api.pagination import PageParams, fetch_page, order_by_clauses
from aerovane.api.params import split_csv
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.variables import (
    VariableBody,
    VariableCollectionResponse,
    VariableResponse,
    variable_to_dict,
)
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.db.models import Variable
from aerovane.services import variables as variable_service
from aerovane.services.errors import NotFound, ServiceError

router = APIRouter(prefix="/variables", tags=["Variable"])

VARIABLES = "Variables"
NOT_FOUND_TITLE = "Variable not found"

_COLUMNS = (Variable.id, Variable.key, Variable.val, Variable.is_encrypted, Variable.description)
_ORDER_BY = {"key": Variable.key, "value": Variable.val, "id": Variable.id}
_AUDIT_MASK = variable_service.audit_mask


def _error(exc: ServiceError) -> ApiError:
    return from_service_error(exc, title=NOT_FOUND_TITLE if isinstance(exc, NotFound) else None)


def _shown(row: Variable) -> JSONResponse:
    return JSONResponse(variable_to_dict(row, variable_service.shown_value(row)))


@router.get(
    "",
    operation_id="get_variables",
    dependencies=[Depends(requires_access(READ, VARIABLES))],
    response_model=None,
    responses={200: {"model": VariableCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_variables(
    session: DbSession, page: PageParams, order_by: str | None = None
) -> JSONResponse:
    order = order_by_clauses(order_by, allowed=_ORDER_BY, default="id", tiebreakers=[Variable.id])
    rows, total = fetch_page(session, select(*_COLUMNS), page, order)
    items = [variable_to_dict(row, variable_service.shown_value(row)) for row in rows]
    return JSONResponse({"variables": items, "total_entries": total})


@router.post(
    "",
    operation_id="post_variables",
    dependencies=[
        Depends(requires_access(CREATE, VARIABLES)),
        Depends(audit("variable.create", mask=_AUDIT_MASK)),
    ],
    response_model=None,
    responses={200: {"model": VariableResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def post_variables(body: VariableBody, session: DbSession) -> JSONResponse:
    try:
        row = variable_service.set_variable(
            body.key, body.value, description=body.description, session=session
        )
    except ServiceError as exc:
        raise _error(exc) from None
    return _shown(row)


@router.get(
    "/{variable_key:path}",
    operation_id="get_variable",
    dependencies=[Depends(requires_access(READ, VARIABLES))],
    response_model=None,
    responses={200: {"model": VariableResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_variable(variable_key: str, session: DbSession) -> JSONResponse:
    try:
        row = variable_service.get_variable(variable_key, session=session)
    except ServiceError as exc:
        raise _error(exc) from None
    return _shown(row)


@router.patch(
    "/{variable_key:path}",
    operation_id="patch_variable",
    dependencies=[
        Depends(requires_access(EDIT, VARIABLES)),
        Depends(audit("variable.edit", mask=_AUDIT_MASK)),
    ],
    response_model=None,
    responses={200: {"model": VariableResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def patch_variable(
    variable_key: str,
    body: VariableBody,
    session: DbSession,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    if body.key != variable_key:
        raise ApiError(
            400, "key from request body doesn't match uri parameter", title="Invalid post body"
        )
    try:
        row = variable_service.update_variable(
            variable_key,
            body.model_dump(exclude_unset=True),
            update_mask=split_csv(update_mask),
            session=session,
        )
    except ServiceError as exc:
        raise _error(exc) from None
    return _shown(row)


@router.delete(
    "/{variable_key:path}",
    operation_id="delete_variable",
    status_code=204,
    dependencies=[
        Depends(requires_access(DELETE, VARIABLES)),
        Depends(audit("variable.delete")),
    ],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_variable(variable_key: str, session: DbSession) -> Response:
    try:
        variable_service.delete_variable(variable_key, session=session)
    except NotFound:
        raise ApiError(404, title=NOT_FOUND_TITLE) from None
    return Response(status_code=204)
