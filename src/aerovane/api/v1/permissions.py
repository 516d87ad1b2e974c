"""`/permissions`: the actions that exist (FAB's permission API lists actions, not pairs)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import select

from aerovane.api.deps import DbSession, db_handler, requires_access
from aerovane.api.pagination import PageParams, fetch_page
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.permissions import ActionCollectionResponse
from aerovane.auth.permissions import READ
from aerovane.db.models import Action

RESOURCE = "Permissions"

router = APIRouter(prefix="/permissions", tags=["Permission"])

_ACTION = Action.__table__.c


@router.get(
    "",
    operation_id="get_permissions",
    dependencies=[Depends(requires_access(READ, RESOURCE))],
    response_model=None,
    responses={200: {"model": ActionCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_permissions(session: DbSession, page: PageParams) -> JSONResponse:
    rows, total = fetch_page(session, select(_ACTION.name), page, [_ACTION.id.asc()])
    return JSONResponse({"actions": [{"name": row.name} for row in rows], "total_entries": total})
