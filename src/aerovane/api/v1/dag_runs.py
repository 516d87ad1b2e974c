"""`/dags/{dag_id}/dagRuns`: list runs (of one DAG, or of all readable DAGs with `~`, or in
batch with `POST /dags/~/dagRuns/list`), trigger a run, get, delete, mark, clear or annotate one,
and list the dataset events that triggered it.

Triggering is one call, `aerovane.services.dag_runs.trigger`, in the request's write
transaction; its commit wakes the schedulers so the run starts at once instead of at the next
idle poll (likewise after a run is cleared or queued again). A trigger carrying an `Idempotency-Key`
header returns the run an earlier trigger with that key created, so retrying never makes a
second run.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response
from sqlalchemy import Text, bindparam, cast, select
from sqlalchemy.orm import Session

from aerovane.api.deps import (
    CurrentPrincipal,
    DbSession,
    audit,
    db_handler,
    requires_access,
    requires_access_dag,
    run_read,
    write_and_finish,
)
from aerovane.api.errors import ApiError
from aerovane.api.pagination import (
    Page,
    PageParams,
    fetch_prepared_page,
    order_by_clauses,
    prepared_page,
)
from aerovane.api.params import check_fields, parse_datetime, split_csv
from aerovane.api.responses import JSONResponse
from aerovane.api.v1.datamodels.common import error_responses, stored_datetime
from aerovane.api.v1.datamodels.dag_runs import (
    DAG_RUN_FIELDS,
    ClearDagRunBody,
    DAGRunCollectionResponse,
    DAGRunResponse,
    DatasetEventCollectionResponse,
    ListDagRunsBody,
    SetDagRunNoteBody,
    TaskInstanceReferenceCollection,
    TriggerDAGRunBody,
    UpdateDagRunStateBody,
    dag_run_list_item,
    dag_run_to_dict,
    dataset_event_to_dict,
    task_instance_reference,
)
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import DagEntity, permitted_dag_ids
from aerovane.db.engine import create_session
from aerovane.db.models import DagRun
from aerovane.services import dag_runs as dag_run_service
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound
from aerovane.states import DagRunState

router = APIRouter(prefix="/dags/{dag_id}/dagRuns", tags=["DAGRun"])
#: `POST /dags/~/dagRuns/list` exists only with the literal `~`.
batch_router = APIRouter(tags=["DAGRun"])

RUN = DagRun.__table__.c
_ORDER_BY = {
    "id": RUN.id,
    "state": RUN.state,
    "dag_id": RUN.dag_id,
    "execution_date": RUN.execution_date,
    "dag_run_id": RUN.run_id,
    "start_date": RUN.start_date,
    "end_date": RUN.end_date,
    "updated_at": RUN.updated_at,
    "external_trigger": RUN.external_trigger,
    # JSON has no ordering on PostgreSQL; its text form does.
    "conf": cast(RUN.conf, Text),
}
_RANGES = (
    ("execution_date", RUN.execution_date),
    ("start_date", RUN.start_date),
    ("end_date", RUN.end_date),
    ("updated_at", RUN.updated_at),
)

_LIST_DATETIMES = (
    ("logical_date", RUN.execution_date),
    ("start_date", RUN.start_date),
    ("end_date", RUN.end_date),
    ("data_interval_start", RUN.data_interval_start),
    ("data_interval_end", RUN.data_interval_end),
    ("last_scheduling_decision", RUN.last_scheduling_decision),
)


#: What a list item needs, and no more, with datetimes read as ISO text by the database.
_LIST_COLUMNS = (
    RUN.run_id,
    RUN.dag_id,
    RUN.run_type,
    RUN.state,
    RUN.external_trigger,
    RUN.conf,
    RUN.note,
    *(stored_datetime(column, name) for name, column in _LIST_DATETIMES),
)


#: A list filter: the bound parameter's name, its value, and the condition that uses it.
Filter = tuple[str, Any, Any]


def _list_page(
    session: Session, endpoint: str, filters: list[Filter], page: Page, order_key: str, order: Any
) -> tuple[list[dict[str, Any]], int]:
    """One page of runs as list items, with statements prepared once per shape."""
    shape = (endpoint, *(name for name, _, _ in filters), order_key)

    def build() -> tuple[Any, list[Any]]:
        query = select(*_LIST_COLUMNS).where(*(condition for _, _, condition in filters))
        return query, order

    params = {name: value for name, value, _ in filters}
    rows, total = fetch_prepared_page(session, prepared_page(shape, build), params, page)
    return [dag_run_list_item(row) for row in rows], total


def _in(column: Any, name: str) -> Any:
    return column.in_(bindparam(name, expanding=True))


DateParam = Annotated[str | None, Query(description="ISO-8601 date-time")]
_MAX_IDEMPOTENCY_KEY = DagRun.__table__.c.idempotency_key.type.length


def _project(item: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return item if fields is None else {name: item[name] for name in fields}


@router.get(
    "",
    operation_id="get_dag_runs",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.RUN))],
    response_model=None,
    responses={200: {"model": DAGRunCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_dag_runs(
    dag_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    page: PageParams,
    execution_date_gte: DateParam = None,
    execution_date_lte: DateParam = None,
    start_date_gte: DateParam = None,
    start_date_lte: DateParam = None,
    end_date_gte: DateParam = None,
    end_date_lte: DateParam = None,
    updated_at_gte: DateParam = None,
    updated_at_lte: DateParam = None,
    state: Annotated[list[str] | None, Query()] = None,
    order_by: str | None = None,
    fields: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    selected = check_fields(fields, DAG_RUN_FIELDS, "DAGRunCollectionSchema")
    order = order_by_clauses(order_by, allowed=_ORDER_BY, default="id", tiebreakers=[RUN.id])
    bounds = {
        "execution_date": (execution_date_gte, execution_date_lte),
        "start_date": (start_date_gte, start_date_lte),
        "end_date": (end_date_gte, end_date_lte),
        "updated_at": (updated_at_gte, updated_at_lte),
    }
    filters: list[Filter] = []
    if dag_id == "~":
        allowed = permitted_dag_ids(principal.permissions, READ)
        if allowed is not None:
            filters.append(("dag_ids", sorted(allowed), _in(RUN.dag_id, "dag_ids")))
    else:
        filters.append(("dag_id", dag_id, RUN.dag_id == bindparam("dag_id")))
    for name, column in _RANGES:
        gte, lte = bounds[name]
        if (low := parse_datetime(gte, f"{name}_gte")) is not None:
            filters.append((f"{name}_gte", low, column >= bindparam(f"{name}_gte")))
        if (high := parse_datetime(lte, f"{name}_lte")) is not None:
            filters.append((f"{name}_lte", high, column <= bindparam(f"{name}_lte")))
    states = split_csv(state)
    if states:
        filters.append(("states", states, _in(RUN.state, "states")))
    runs, total = _list_page(
        session, "get_dag_runs", filters, page, (order_by or "").strip(), order
    )
    if selected is not None:
        runs = [_project(run, selected) for run in runs]
    return JSONResponse({"dag_runs": runs, "total_entries": total})


@router.post(
    "",
    operation_id="post_dag_run",
    dependencies=[
        Depends(requires_access_dag("POST", DagEntity.RUN)),
        Depends(audit("post_dag_run")),
    ],
    response_model=None,
    responses={200: {"model": DAGRunResponse}, **error_responses(400, 401, 403, 404, 409)},
)
async def trigger_dag_run(
    dag_id: str,
    body: TriggerDAGRunBody,
    session: DbSession,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retrying with the same key returns the run the first request created.",
        ),
    ] = None,
) -> JSONResponse:
    """One service call (`dag_runs.trigger`); `db` decides where its lookups are read, and
    the schedulers are woken by its commit."""
    if idempotency_key is not None and not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY:
        raise ApiError(400, f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} characters long")
    interval = None
    if body.data_interval_start is not None and body.data_interval_end is not None:
        interval = (body.data_interval_start, body.data_interval_end)

    def trigger() -> JSONResponse:
        run = dag_run_service.trigger(
            dag_id,
            run_id=body.dag_run_id,
            logical_date=body.effective_logical_date,
            data_interval=interval,
            conf=body.conf,
            note=body.note,
            triggered_by="rest_api",
            idempotency_key=idempotency_key,
            session=session,
        )
        # Rendered before the commit: a response that cannot be sent leaves no run behind.
        return JSONResponse(dag_run_to_dict(run))

    try:
        return await write_and_finish(session, trigger)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="DAG not found") from None
    except AlreadyExists as exc:
        raise ApiError(409, str(exc)) from None
    except BadRequest as exc:
        raise ApiError(400, str(exc)) from None


@router.get(
    "/{dag_run_id}",
    operation_id="get_dag_run",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.RUN))],
    response_model=None,
    responses={200: {"model": DAGRunResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_dag_run(
    dag_id: str,
    dag_run_id: str,
    session: DbSession,
    fields: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    selected = check_fields(fields, DAG_RUN_FIELDS, "DAGRunSchema")
    try:
        run = dag_run_service.get_dag_run(dag_id, dag_run_id, session=session)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="DAGRun not found") from None
    return JSONResponse(_project(dag_run_to_dict(run), selected))


@batch_router.post(
    "/dags/~/dagRuns/list",
    operation_id="get_dag_runs_batch",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.RUN))],
    response_model=None,
    responses={200: {"model": DAGRunCollectionResponse}, **error_responses(400, 401, 403)},
)
async def get_dag_runs_batch(body: ListDagRunsBody, principal: CurrentPrincipal) -> JSONResponse:
    """Runs of the readable DAGs, filtered by the body. `page_limit` is not capped by
    `[api] maximum_page_limit`, as on Airflow's server."""
    order = order_by_clauses(body.order_by, allowed=_ORDER_BY, default="id", tiebreakers=[RUN.id])
    filters: list[Filter] = []
    allowed = permitted_dag_ids(principal.permissions, READ)
    if body.dag_ids:
        wanted = set(body.dag_ids) if allowed is None else set(body.dag_ids) & allowed
        filters.append(("dag_ids", sorted(wanted), _in(RUN.dag_id, "dag_ids")))
    elif allowed is not None:
        filters.append(("dag_ids", sorted(allowed), _in(RUN.dag_id, "dag_ids")))
    if body.states:
        filters.append(("states", body.states, _in(RUN.state, "states")))
    for name, low, high, column in (
        ("execution_date", body.execution_date_gte, body.execution_date_lte, RUN.execution_date),
        ("start_date", body.start_date_gte, body.start_date_lte, RUN.start_date),
        ("end_date", body.end_date_gte, body.end_date_lte, RUN.end_date),
    ):
        if low is not None:
            filters.append((f"{name}_gte", low, column >= bindparam(f"{name}_gte")))
        if high is not None:
            filters.append((f"{name}_lte", high, column <= bindparam(f"{name}_lte")))
    page = Page(limit=body.page_limit, offset=body.page_offset)
    order_key = (body.order_by or "").strip()

    def read() -> JSONResponse:
        # A POST gets a write session; this only reads, so it reads in its own read session.
        with create_session(readonly=True) as session:
            runs, total = _list_page(session, "get_dag_runs_batch", filters, page, order_key, order)
        return JSONResponse({"dag_runs": runs, "total_entries": total})

    return await run_read(read)


@router.delete(
    "/{dag_run_id}",
    operation_id="delete_dag_run",
    status_code=204,
    dependencies=[
        Depends(requires_access_dag("DELETE", DagEntity.RUN)),
        Depends(audit("delete_dag_run")),
    ],
    response_model=None,
    responses={204: {"description": "Success."}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def delete_dag_run(dag_id: str, dag_run_id: str, session: DbSession) -> Response:
    try:
        dag_run_service.delete_dag_run(dag_id, dag_run_id, session=session)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from None
    return Response(status_code=204)


def _run_not_found(dag_id: str, dag_run_id: str) -> ApiError:
    return ApiError(404, title=f"Dag Run id {dag_run_id} not found in dag {dag_id}")


@router.patch(
    "/{dag_run_id}",
    operation_id="update_dag_run_state",
    dependencies=[
        Depends(requires_access_dag("PUT", DagEntity.RUN)),
        Depends(audit("update_dag_run_state")),
    ],
    response_model=None,
    responses={200: {"model": DAGRunResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def update_dag_run_state(
    dag_id: str, dag_run_id: str, body: UpdateDagRunStateBody, session: DbSession
) -> JSONResponse:
    state = DagRunState(body.state)
    try:
        run = dag_run_service.set_dag_run_state(dag_id, dag_run_id, state, session=session)
    except NotFound:
        raise _run_not_found(dag_id, dag_run_id) from None
    return JSONResponse(dag_run_to_dict(run))


@router.post(
    "/{dag_run_id}/clear",
    operation_id="clear_dag_run",
    dependencies=[
        Depends(requires_access_dag("PUT", DagEntity.RUN)),
        Depends(audit("clear_dag_run")),
    ],
    response_model=None,
    responses={
        200: {"model": DAGRunResponse | TaskInstanceReferenceCollection},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def clear_dag_run(
    dag_id: str, dag_run_id: str, body: ClearDagRunBody, session: DbSession
) -> JSONResponse:
    """`dry_run` (the default) lists the task instances that would be cleared; otherwise they
    are cleared and the run, queued again, is returned."""
    try:
        run, tis = dag_run_service.clear_dag_run(
            dag_id, dag_run_id, dry_run=body.dry_run, session=session
        )
    except NotFound:
        raise _run_not_found(dag_id, dag_run_id) from None
    if body.dry_run:
        refs = [task_instance_reference(ti, run.logical_date) for ti in tis]
        return JSONResponse({"task_instances": refs})
    return JSONResponse(dag_run_to_dict(run))


@router.get(
    "/{dag_run_id}/upstreamDatasetEvents",
    operation_id="get_upstream_dataset_events",
    dependencies=[
        Depends(requires_access_dag("GET", DagEntity.RUN)),
        Depends(requires_access(READ, "Datasets")),
    ],
    response_model=None,
    responses={200: {"model": DatasetEventCollectionResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_upstream_dataset_events(dag_id: str, dag_run_id: str, session: DbSession) -> JSONResponse:
    try:
        run = dag_run_service.get_dag_run(dag_id, dag_run_id, session=session)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="DAGRun not found") from None
    events = dag_run_service.upstream_dataset_events(run, session=session)
    body = [dataset_event_to_dict(event, created) for event, created in events]
    return JSONResponse({"dataset_events": body, "total_entries": len(body)})


@router.patch(
    "/{dag_run_id}/setNote",
    operation_id="set_dag_run_note",
    dependencies=[
        Depends(requires_access_dag("PUT", DagEntity.RUN)),
        Depends(audit("set_dag_run_note")),
    ],
    response_model=None,
    responses={200: {"model": DAGRunResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def set_dag_run_note(
    dag_id: str, dag_run_id: str, body: SetDagRunNoteBody, session: DbSession
) -> JSONResponse:
    try:
        run = dag_run_service.set_dag_run_note(dag_id, dag_run_id, body.note, session=session)
    except NotFound:
        raise _run_not_found(dag_id, dag_run_id) from None
    return JSONResponse(dag_run_to_dict(run))
