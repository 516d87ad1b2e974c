"""`/pools`: list, create, get, update and delete pools, with live slot usage.

Slot usage comes from task instance states (`aerovane.services.pools.slot_usage`): one grouped
query per page, whatever its size.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from aerovane.api.deps import DbSession, audit, db_handler, requires_access
from aerovane.api.errors import from_service_error
from aerovane.api.pagination import PageParams, fetch_page, order_by_clauses
from aerovane.api.params import split_csv
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.pools import (
    PoolBody,
    PoolCollectionResponse,
    PoolResponse,
    pool_to_dict,
)
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.db.models import Pool
from aerovane.services import pools as pool_service
from aerovane.services.errors import ServiceError

router = APIRouter(prefix="/pools", tags=["Pool"])

POOLS = "Pools"

_COLUMNS = (Pool.id, Pool.pool, Pool.slots, Pool.description, Pool.include_deferred)
_ORDER_BY = {"name": Pool.pool, "slots": Pool.slots, "id": Pool.id}


def _shown(row: Pool, session: Session) -> JSONResponse:
    usage = pool_service.slot_usage([row.pool], session=session)
    return JSONResponse(pool_to_dict(row, usage.get(row.pool)))


@router.get(
    "",
    operation_id="get_pools",
    dependencies=[Depends(requires_access(READ, POOLS))],
    response_model=None,
    responses={200: {"model": PoolCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_pools(session: DbSession, page: PageParams, order_by: str | None = None) -> JSONResponse:
    order = order_by_clauses(order_by, allowed=_ORDER_BY, default="id", tiebreakers=[Pool.id])
    rows, total = fetch_page(session, select(*_COLUMNS), page, order)
    usage = pool_service.slot_usage([row.pool for row in rows], session=session)
    pools = [pool_to_dict(row, usage.get(row.pool)) for row in rows]
    return JSONResponse({"pools": pools, "total_entries": total})


@router.post(
    "",
    operation_id="post_pool",
    dependencies=[Depends(requires_access(CREATE, POOLS)), Depends(audit("post_pool"))],
    response_model=None,
    responses={200: {"model": PoolResponse}, **error_responses(400, 401, 403, 409)},
)
@db_handler
def post_pool(body: PoolBody, session: DbSession) -> JSONResponse:
    try:
        row = pool_service.create_pool(body.model_dump(exclude_unset=True), session=session)
    except ServiceError as exc:
        raise from_service_error(exc) from None
    return _shown(row, session)


@router.get(
    "/{pool_name}",
    operation_id="get_pool",
    dependencies=[Depends(requires_access(READ, POOLS))],
    response_model=None,
    responses={200: {"model": PoolResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_pool(pool_name: str, session: DbSession) -> JSONResponse:
    try:
        row = pool_service.get_pool(pool_name, session=session)
    except ServiceError as exc:
        raise from_service_error(exc) from None
    return _shown(row, session)


@router.patch(
    "/{pool_name}",
    operation_id="patch_pool",
    dependencies=[Depends(requires_access(EDIT, POOLS)), Depends(audit("patch_pool"))],
    response_model=None,
    responses={200: {"model": PoolResponse}, **error_responses(400, 401, 403, 404, 409)},
)
@db_handler
def patch_pool(
    pool_name: str,
    body: PoolBody,
    session: DbSession,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    try:
        row = pool_service.update_pool(
            pool_name,
            body.model_dump(exclude_unset=True),
            update_mask=split_csv(update_mask),
            session=session,
        )
    except ServiceError as exc:
        raise from_service_error(exc) from None
    return _shown(row, session)


@router.delete(
    "/{pool_name}",
    operation_id="delete_pool",
    status_code=204,
    dependencies=[Depends(requires_access(DELETE, POOLS)), Depends(audit("delete_pool"))],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_pool(pool_name: str, session: DbSession) -> Response:
    try:
        pool_service.delete_pool(pool_name, session=session)
    except ServiceError as exc:
        raise from_service_error(exc) from None
    return Response(status_code=204)
