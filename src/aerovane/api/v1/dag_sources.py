"""`/dagSources/{file_token}` (a DAG file's source) and `/parseDagFile/{file_token}` (ask the DAG
processor to parse a file again).

A `file_token` is the signed file location from `DAG.file_token`; a token this server did not
sign is a 404. Both need access to every DAG the file defines, not just one of them, as in
Airflow. The source is what the DAG processor stored (the `dag_code` table), never the file
read at request time.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from aerovane.api import signing
from aerovane.api.deps import (
    CurrentPrincipal,
    DbSession,
    audit,
    db_handler,
    requires_access_dag,
)
from aerovane.api.errors import ApiError
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.dags import DagSourceResponse
from aerovane.api.v1.task_logs import best_match
from aerovane.auth.permissions import EDIT, READ
from aerovane.auth.rbac import DAGS, DagEntity, has_access
from aerovane.dag_processing.manager import request_reparse
from aerovane.services import dags as dag_service
from aerovane.services.errors import NotFound

router = APIRouter(tags=["DAG"])

_TEXT, _JSON = "text/plain", "application/json"
NOT_ACCEPTABLE = "Not Allowed Accept Header"


def _fileloc(file_token: str, *, not_found: str) -> str:
    try:
        return signing.fileloc_from_token(file_token)
    except signing.BadSignature:
        raise ApiError(404, title=not_found) from None


def _check_every_dag(principal: CurrentPrincipal, action: str, dag_ids: list[str]) -> None:
    if not all(has_access(principal.permissions, action, DAGS, dag_id) for dag_id in dag_ids):
        raise ApiError(403)


@router.get(
    "/dagSources/{file_token}",
    operation_id="get_dag_source",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.CODE))],
    response_model=None,
    responses={
        200: {"model": DagSourceResponse, "content": {_TEXT: {"schema": {"type": "string"}}}},
        406: {"description": "A specified Accept header is not allowed."},
        **error_responses(401, 403, 404),
    },
)
@db_handler
def get_dag_source(
    file_token: str, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """The source as `text/plain` or as JSON `{"content": ...}`, whichever the `Accept` header
    prefers (werkzeug's rules: `*/*` gets text); anything else is a 406."""
    fileloc = _fileloc(file_token, not_found="Dag source not found")
    _check_every_dag(principal, READ, dag_service.dag_ids_in_file(fileloc, session=session))
    try:
        source = dag_service.get_dag_source(fileloc, session=session)
    except NotFound as exc:
        raise ApiError(404, title=str(exc)) from None
    media = best_match(request.headers.get("accept"), (_TEXT, _JSON))
    if media == _TEXT:
        return Response(source, media_type=_TEXT)
    if media == _JSON:
        return JSONResponse({"content": source})
    return Response(NOT_ACCEPTABLE, status_code=406, media_type=_TEXT)


@router.put(
    "/parseDagFile/{file_token}",
    operation_id="reparse_dag_file",
    status_code=201,
    dependencies=[Depends(requires_access_dag("PUT")), Depends(audit("reparse_dag_file"))],
    response_model=None,
    responses={201: {"description": "Success."}, **error_responses(401, 403, 404)},
)
@db_handler
def reparse_dag_file(file_token: str, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Have the DAG processor parse the file at its next scan (within
    `[scheduler] dag_dir_list_interval`), changed or not. 201 with an empty body."""
    fileloc = _fileloc(file_token, not_found="File not found")
    dag_ids = dag_service.dag_ids_in_file(fileloc, session=session)
    if not dag_ids:
        raise ApiError(404, title="File not found")
    _check_every_dag(principal, EDIT, dag_ids)
    request_reparse(fileloc)
    return Response(status_code=201)
