"""`/importErrors`: errors from parsing DAG files, filtered by which DAGs the caller may read.

Callers without read access to every DAG see only files defining a DAG they may read, and the
stack trace only where they may read all of that file's DAGs
(`aerovane.services.import_errors`). A page costs at most three queries: the errors, the DAGs
of their files (only when filtering), and a COUNT when the page does not tell the total.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from aerovane.api.deps import CurrentPrincipal, DbSession, db_handler, requires_access
from aerovane.api.errors import ApiError
from aerovane.api.pagination import PageParams, fetch_page, order_by_clauses
from aerovane.api.params import INT32_MAX, INT32_MIN
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.import_errors import (
    ImportErrorCollectionResponse,
    ImportErrorResponse,
    import_error_to_dict,
)
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import permitted_dag_ids
from aerovane.db.models import ImportErrorModel
from aerovane.services import import_errors as import_error_service
from aerovane.services.errors import NotFound
from aerovane.services.import_errors import FileAccess

router = APIRouter(prefix="/importErrors", tags=["ImportError"])

IMPORT_ERROR = "ImportError"
NO_DAG_READABLE = "You do not have read permission on any of the DAGs in the file"

_ORDER_BY = {
    "import_error_id": ImportErrorModel.id,
    "timestamp": ImportErrorModel.timestamp,
    "filename": ImportErrorModel.filename,
}


@router.get(
    "",
    operation_id="get_import_errors",
    dependencies=[Depends(requires_access(READ, IMPORT_ERROR))],
    response_model=None,
    responses={200: {"model": ImportErrorCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_import_errors(
    session: DbSession,
    principal: CurrentPrincipal,
    page: PageParams,
    order_by: str | None = None,
) -> JSONResponse:
    order = order_by_clauses(
        order_by, allowed=_ORDER_BY, default="import_error_id", tiebreakers=[ImportErrorModel.id]
    )
    readable = permitted_dag_ids(principal.permissions, READ)
    query = import_error_service.import_error_query(readable)
    rows, total = fetch_page(session, query, page, order)
    file_dags = (
        import_error_service.dags_by_file([row.filename for row in rows], session=session)
        if readable is not None
        else {}
    )
    items = [
        import_error_to_dict(
            row,
            import_error_service.shown_stacktrace(
                row, file_dags.get(row.filename, set()), readable
            ),
        )
        for row in rows
    ]
    return JSONResponse({"import_errors": items, "total_entries": total})


@router.get(
    "/{import_error_id}",
    operation_id="get_import_error",
    dependencies=[Depends(requires_access(READ, IMPORT_ERROR))],
    response_model=None,
    responses={200: {"model": ImportErrorResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_import_error(
    import_error_id: Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)],
    session: DbSession,
    principal: CurrentPrincipal,
) -> JSONResponse:
    try:
        row = import_error_service.get_import_error(import_error_id, session=session)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="Import error not found") from None
    readable = permitted_dag_ids(principal.permissions, READ)
    file_dags: set[str] = set()
    if readable is not None:
        file_dags = import_error_service.dags_by_file([row.filename], session=session).get(
            row.filename, set()
        )
    access = import_error_service.file_access(file_dags, readable)
    if access is FileAccess.NONE:
        raise ApiError(403, NO_DAG_READABLE)
    return JSONResponse(
        import_error_to_dict(row, import_error_service.shown_stacktrace(row, file_dags, readable))
    )
