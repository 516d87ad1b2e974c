"""`/eventLogs`: the audit log, filtered and paged, and single entries.

Reading needs `can_read Audit Logs`; as in Airflow, filtering on a `dag_id` also needs read
access to that DAG (Airflow's check reads the `dag_id` argument, here a query parameter).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from aerovane.api.deps import CurrentPrincipal, DbSession, db_handler, requires_access
from aerovane.api.errors import ApiError
from aerovane.api.pagination import PageParams, fetch_page, order_by_clauses
from aerovane.api.params import INT32_MAX, INT32_MIN, parse_datetime, split_csv
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.event_logs import (
    EventLogCollectionResponse,
    EventLogResponse,
    event_log_to_dict,
)
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import DagEntity, is_authorized_dag
from aerovane.db.models import EventLog
from aerovane.services import event_logs as event_log_service
from aerovane.services.errors import NotFound

router = APIRouter(prefix="/eventLogs", tags=["EventLog"])

AUDIT_LOGS = "Audit Logs"

IntParam = Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)]

_ORDER_BY = {
    "event_log_id": EventLog.id,
    "when": EventLog.dttm,
    "dag_id": EventLog.dag_id,
    "task_id": EventLog.task_id,
    "run_id": EventLog.run_id,
    "event": EventLog.event,
    "execution_date": EventLog.execution_date,
    "owner": EventLog.owner,
    "extra": EventLog.extra,
}


async def requires_audit_log_access(principal: CurrentPrincipal, dag_id: str | None = None) -> None:
    if not is_authorized_dag(principal.permissions, "GET", DagEntity.AUDIT_LOG, dag_id):
        raise ApiError(403)


@router.get(
    "",
    operation_id="get_event_logs",
    dependencies=[Depends(requires_audit_log_access)],
    response_model=None,
    responses={200: {"model": EventLogCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_event_logs(
    session: DbSession,
    page: PageParams,
    order_by: str | None = None,
    dag_id: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    map_index: IntParam = None,
    try_number: IntParam = None,
    event: str | None = None,
    owner: str | None = None,
    before: str | None = None,
    after: str | None = None,
    included_events: str | None = None,
    excluded_events: str | None = None,
) -> JSONResponse:
    order = order_by_clauses(
        order_by, allowed=_ORDER_BY, default="event_log_id", tiebreakers=[EventLog.id]
    )
    filters = event_log_service.EventLogFilter(
        dag_id=dag_id or None,
        task_id=task_id or None,
        run_id=run_id or None,
        map_index=map_index,
        try_number=try_number,
        event=event or None,
        owner=owner or None,
        before=parse_datetime(before, "before"),
        after=parse_datetime(after, "after"),
        included_events=split_csv([included_events] if included_events else None),
        excluded_events=split_csv([excluded_events] if excluded_events else None),
    )
    query = event_log_service.event_log_query(filters)
    rows, total = fetch_page(session, query, page, order)
    items = [event_log_to_dict(row) for row in rows]
    return JSONResponse({"event_logs": items, "total_entries": total})


@router.get(
    "/{event_log_id}",
    operation_id="get_event_log",
    dependencies=[Depends(requires_access(READ, AUDIT_LOGS))],
    response_model=None,
    responses={200: {"model": EventLogResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_event_log(
    event_log_id: Annotated[int, Path(ge=INT32_MIN, le=INT32_MAX)], session: DbSession
) -> JSONResponse:
    try:
        row = event_log_service.get_event_log(event_log_id, session=session)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="Event Log not found") from None
    return JSONResponse(event_log_to_dict(row))
