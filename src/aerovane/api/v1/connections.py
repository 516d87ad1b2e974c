"""`/connections`: list, create, get, update, delete and test connections.

Passwords are write-only and extras are shown with sensitive keys redacted
(`aerovane.services.connections.public_extra`); the list omits extras altogether. Testing is
refused with Airflow's plain-text 403 unless `[core] test_connection` is `Enabled`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select
from starlette.responses import Response

from aerovane.api.deps import DbSession, audit, db_handler, requires_access
from aerovane.api.errors import ApiError, from_service_error
from aerovane.api.pagination import PageParams, fetch_page, order_by_clauses
from aerovane.api.params import split_csv
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.connections import (
    ConnectionBody,
    ConnectionCollectionResponse,
    ConnectionPatchBody,
    ConnectionResponse,
    ConnectionTestResponse,
    connection_item_to_dict,
    connection_to_dict,
)
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.config import get_settings
from aerovane.db.models import Connection
from aerovane.services import connections as connection_service
from aerovane.services.errors import NotFound, ServiceError

router = APIRouter(prefix="/connections", tags=["Connection"])

CONNECTIONS = "Connections"
NOT_FOUND_TITLE = "Connection not found"
TEST_DISABLED = (
    "Testing connections is disabled in Airflow configuration. "
    "Contact your deployment admin to enable it."
)

_ITEM_COLUMNS = (
    Connection.conn_id,
    Connection.conn_type,
    Connection.description,
    Connection.host,
    Connection.login,
    Connection.schema,
    Connection.port,
)
_ORDER_BY = {
    "connection_id": Connection.conn_id,
    "conn_type": Connection.conn_type,
    "description": Connection.description,
    "host": Connection.host,
    "port": Connection.port,
    "id": Connection.id,
}


def _error(exc: ServiceError) -> ApiError:
    title = NOT_FOUND_TITLE if isinstance(exc, NotFound) else None
    return from_service_error(exc, title=title)


def _shown(row: Connection) -> JSONResponse:
    return JSONResponse(connection_to_dict(row, connection_service.public_extra(row)))


@router.get(
    "",
    operation_id="get_connections",
    dependencies=[Depends(requires_access(READ, CONNECTIONS))],
    response_model=None,
    responses={200: {"model": ConnectionCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_connections(
    session: DbSession, page: PageParams, order_by: str | None = None
) -> JSONResponse:
    order = order_by_clauses(order_by, allowed=_ORDER_BY, default="id", tiebreakers=[Connection.id])
    rows, total = fetch_page(session, select(*_ITEM_COLUMNS), page, order)
    items = [connection_item_to_dict(row) for row in rows]
    return JSONResponse({"connections": items, "total_entries": total})


@router.post(
    "",
    operation_id="post_connection",
    dependencies=[
        Depends(requires_access(CREATE, CONNECTIONS)),
        Depends(audit("connection.create", mask=connection_service.audit_mask)),
    ],
    response_model=None,
    responses={200: {"model": ConnectionResponse}, **error_responses(400, 401, 403, 409)},
)
@db_handler
def post_connection(body: ConnectionBody, session: DbSession) -> JSONResponse:
    values = body.service_values()
    conn_id = values.pop("conn_id")
    try:
        row = connection_service.create_connection(conn_id, values, session=session)
    except ServiceError as exc:
        raise _error(exc) from None
    return _shown(row)


@router.post(
    "/test",
    operation_id="test_connection",
    dependencies=[Depends(requires_access(CREATE, CONNECTIONS))],
    response_model=None,
    responses={
        200: {"model": ConnectionTestResponse},
        403: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **error_responses(400, 401, 404),
    },
)
def try_connection(body: ConnectionBody) -> Response:
    """Runs in the threadpool: a test may wait on the network for a few seconds."""
    if get_settings().getstr("core", "test_connection").lower() != "enabled":
        return PlainTextResponse(TEST_DISABLED, status_code=403)
    spec = connection_service.ConnectionSpec(
        conn_type=body.conn_type,
        host=body.host,
        schema=body.schema_,
        login=body.login,
        password=body.password,
        port=body.port,
        extra=body.extra,
    )
    status, message = connection_service.check_connection(spec)
    return JSONResponse({"status": status, "message": message})


@router.get(
    "/{connection_id}",
    operation_id="get_connection",
    dependencies=[Depends(requires_access(READ, CONNECTIONS))],
    response_model=None,
    responses={200: {"model": ConnectionResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_connection(connection_id: str, session: DbSession) -> JSONResponse:
    try:
        row = connection_service.get_connection(connection_id, session=session)
    except ServiceError as exc:
        raise _error(exc) from None
    return _shown(row)


@router.patch(
    "/{connection_id}",
    operation_id="patch_connection",
    dependencies=[
        Depends(requires_access(EDIT, CONNECTIONS)),
        Depends(audit("connection.edit", mask=connection_service.audit_mask)),
    ],
    response_model=None,
    responses={200: {"model": ConnectionResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def patch_connection(
    connection_id: str,
    body: ConnectionPatchBody,
    session: DbSession,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    try:
        row = connection_service.update_connection(
            connection_id,
            body.service_values(),
            update_mask=split_csv(update_mask),
            session=session,
        )
    except ServiceError as exc:
        raise _error(exc) from None
    return _shown(row)


@router.delete(
    "/{connection_id}",
    operation_id="delete_connection",
    status_code=204,
    dependencies=[
        Depends(requires_access(DELETE, CONNECTIONS)),
        Depends(audit("connection.delete")),
    ],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_connection(connection_id: str, session: DbSession) -> Response:
    try:
        connection_service.delete_connection(connection_id, session=session)
    except ServiceError as exc:
        raise _error(exc) from None
    return Response(status_code=204)
