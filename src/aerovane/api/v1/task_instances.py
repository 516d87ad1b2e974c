"""Task instances: `/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances[/...]` (list with `~` for
either id, get, mark success/failed/skipped, note, dependencies, tries, extra links, the mapped
forms), the batch list `POST /dags/~/dagRuns/~/taskInstances/list`, and the two DAG-level
operations `POST /dags/{dag_id}/clearTaskInstances` and `.../updateTaskInstancesState`.

`state=none` (or null in the batch form) matches task instances that have no state yet. A list
page is one query (plus a COUNT when the page does not tell the total, and one for the
triggers of the deferred task instances on it); the run's logical date comes from a join.
Aerovane has no dynamic task mapping yet, so every task instance has map index -1 and the
mapped URLs (`.../{task_id}/{map_index}`, digits only as in Airflow) find nothing. Changes are
`aerovane.services.task_instances`; once they commit, the schedulers on this host are woken so
cleared or unblocked work starts at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from aerovane.api.deps import (
    CurrentPrincipal,
    DbSession,
    audit,
    db_handler,
    requires_access_dag,
)
from aerovane.api.errors import ApiError
from aerovane.api.pagination import Page, PageParams, check_limit, fetch_page, order_by_clauses
from aerovane.api.params import parse_datetime, split_csv
from aerovane.api.responses import JSONResponse
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.task_instances import (
    ClearTaskInstancesBody,
    ExtraLinkCollectionResponse,
    ListTaskInstanceFormBody,
    SetTaskInstanceNoteBody,
    TaskInstanceCollectionResponse,
    TaskInstanceDependencyCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceReferenceCollectionResponse,
    TaskInstanceReferenceResponse,
    TaskInstanceResponse,
    UpdateTaskInstanceBody,
    UpdateTaskInstancesStateBody,
    schema_error,
    task_instance_reference,
    task_instance_to_dict,
    task_instance_try_to_dict,
)
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import DagEntity, is_authorized_dag, permitted_dag_ids
from aerovane.db.models import DagRun, TaskInstance
from aerovane.scheduler import trigger_rules
from aerovane.services import task_instances as ti_service
from aerovane.services import triggers
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.errors import BadRequest, NotFound

router = APIRouter(
    prefix="/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances", tags=["TaskInstance"]
)
#: DAG-level task instance operations and the batch list (no run in their paths).
dag_router = APIRouter(prefix="/dags", tags=["DAG"])

TI_COLUMNS = tuple(getattr(TaskInstance, attr.key) for attr in TaskInstance.__mapper__.column_attrs)
_ORDER = (TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
_NO_STATE = {"none", "null"}
_MAPPED_ORDER_BY = {
    "state": TaskInstance.state,
    "duration": TaskInstance.duration,
    "start_date": TaskInstance.start_date,
    "end_date": TaskInstance.end_date,
    "map_index": TaskInstance.map_index,
}
_TRY_ORDER_BY = ("try_number", "start_date", "end_date", "duration", "state")

DateParam = Annotated[str | None, Query(description="ISO-8601 date-time")]
ListParam = Annotated[list[str] | None, Query()]

READ_TI = Depends(requires_access_dag("GET", DagEntity.TASK_INSTANCE))
EDIT_TI = Depends(requires_access_dag("PUT", DagEntity.TASK_INSTANCE))
TI_NOT_FOUND = "Task instance not found"


def _task_instances_query() -> Select[Any]:
    return select(*TI_COLUMNS, DagRun.__table__.c.execution_date.label("run_logical_date")).join(
        DagRun, and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id)
    )


def _filter(
    query: Select[Any],
    *,
    ranges: Sequence[tuple[Any, dt.datetime | float | None, dt.datetime | float | None]],
    states: Sequence[str | None] | None,
    lists: Sequence[tuple[Any, Sequence[str] | None]],
) -> Select[Any]:
    """Range filters (inclusive; None = open), states (None/"none"/"null" = no state yet) and
    any-of filters (an empty list filters nothing, as in Airflow)."""
    for column, low, high in ranges:
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column <= high)
    if states:
        named = sorted({s for s in states if s is not None and s not in _NO_STATE})
        conditions = [TaskInstance.state.in_(named)] if named else []
        if any(s is None or s in _NO_STATE for s in states):
            conditions.append(TaskInstance.state.is_(None))
        query = query.where(or_(*conditions))
    for column, values in lists:
        if values:
            query = query.where(column.in_(list(values)))
    return query


def _query_filters(
    *,
    execution_date_gte: str | None,
    execution_date_lte: str | None,
    start_date_gte: str | None,
    start_date_lte: str | None,
    end_date_gte: str | None,
    end_date_lte: str | None,
    updated_at_gte: str | None,
    updated_at_lte: str | None,
    duration_gte: float | None,
    duration_lte: float | None,
    state: list[str] | None,
    pool: list[str] | None,
    queue: list[str] | None,
    executor: list[str] | None,
) -> dict[str, Any]:
    """`_filter`'s arguments from the query parameters the GET lists share (400 on bad dates)."""
    bounds = (
        (DagRun.logical_date, "execution_date", execution_date_gte, execution_date_lte),
        (TaskInstance.start_date, "start_date", start_date_gte, start_date_lte),
        (TaskInstance.end_date, "end_date", end_date_gte, end_date_lte),
        (TaskInstance.updated_at, "updated_at", updated_at_gte, updated_at_lte),
    )
    ranges: list[tuple[Any, Any, Any]] = [
        (column, parse_datetime(gte, f"{name}_gte"), parse_datetime(lte, f"{name}_lte"))
        for column, name, gte, lte in bounds
    ]
    ranges.append((TaskInstance.duration, duration_gte, duration_lte))
    return {
        "ranges": ranges,
        "states": split_csv(state),
        "lists": (
            (TaskInstance.pool, pool),
            (TaskInstance.queue, queue),
            (TaskInstance.executor, executor),
        ),
    }


def _page_of_task_instances(
    session: Session, query: Select[Any], page: Page, order: Sequence[Any]
) -> JSONResponse:
    rows, total = fetch_page(session, query, page, order)
    deferrals = triggers.triggers_with_jobs([row.trigger_id for row in rows], session=session)
    items = [
        task_instance_to_dict(row, row.run_logical_date, deferrals.get(row.trigger_id))
        for row in rows
    ]
    return JSONResponse({"task_instances": items, "total_entries": total})


# -- lists --------------------------------------------------------------------------------------


@router.get(
    "",
    operation_id="get_task_instances",
    dependencies=[READ_TI],
    response_model=None,
    responses={
        200: {"model": TaskInstanceCollectionResponse},
        **error_responses(400, 401, 403),
    },
)
@db_handler
def get_task_instances(
    dag_id: str,
    dag_run_id: str,
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
    duration_gte: float | None = None,
    duration_lte: float | None = None,
    state: ListParam = None,
    pool: ListParam = None,
    queue: ListParam = None,
    executor: ListParam = None,
) -> JSONResponse:
    query = _task_instances_query()
    if dag_id == "~":
        allowed = permitted_dag_ids(principal.permissions, READ)
        if allowed is not None:
            query = query.where(TaskInstance.dag_id.in_(sorted(allowed)))
    else:
        query = query.where(TaskInstance.dag_id == dag_id)
    if dag_run_id != "~":
        query = query.where(TaskInstance.run_id == dag_run_id)
    query = _filter(
        query,
        **_query_filters(
            execution_date_gte=execution_date_gte,
            execution_date_lte=execution_date_lte,
            start_date_gte=start_date_gte,
            start_date_lte=start_date_lte,
            end_date_gte=end_date_gte,
            end_date_lte=end_date_lte,
            updated_at_gte=updated_at_gte,
            updated_at_lte=updated_at_lte,
            duration_gte=duration_gte,
            duration_lte=duration_lte,
            state=state,
            pool=pool,
            queue=queue,
            executor=executor,
        ),
    )
    return _page_of_task_instances(session, query, page, [c.asc() for c in _ORDER])


@dag_router.post(
    "/~/dagRuns/~/taskInstances/list",
    operation_id="get_task_instances_batch",
    tags=["TaskInstance"],
    dependencies=[READ_TI],
    response_model=None,
    responses={
        200: {"model": TaskInstanceCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def get_task_instances_batch(
    body: ListTaskInstanceFormBody, session: DbSession, principal: CurrentPrincipal
) -> JSONResponse:
    query = _task_instances_query()
    if body.dag_ids:
        if not all(is_authorized_dag(principal.permissions, "GET", None, d) for d in body.dag_ids):
            raise ApiError(403, f"User not allowed to access some of these DAGs: {body.dag_ids}")
        query = query.where(TaskInstance.dag_id.in_(body.dag_ids))
    else:
        allowed = permitted_dag_ids(principal.permissions, READ)
        if allowed is not None:
            query = query.where(TaskInstance.dag_id.in_(sorted(allowed)))
    query = _filter(
        query,
        ranges=(
            (DagRun.logical_date, body.execution_date_gte, body.execution_date_lte),
            (TaskInstance.start_date, body.start_date_gte, body.start_date_lte),
            (TaskInstance.end_date, body.end_date_gte, body.end_date_lte),
            (TaskInstance.duration, body.duration_gte, body.duration_lte),
        ),
        states=body.state,
        lists=(
            (TaskInstance.run_id, body.dag_run_ids),
            (TaskInstance.task_id, body.task_ids),
            (TaskInstance.pool, body.pool),
            (TaskInstance.queue, body.queue),
            (TaskInstance.executor, body.executor),
        ),
    )
    page = Page(limit=check_limit(body.page_limit), offset=body.page_offset)
    return _page_of_task_instances(session, query, page, [c.asc() for c in _ORDER])


@router.get(
    "/{task_id}/listMapped",
    operation_id="get_mapped_task_instances",
    dependencies=[READ_TI],
    response_model=None,
    responses={
        200: {"model": TaskInstanceCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def get_mapped_task_instances(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    session: DbSession,
    page: PageParams,
    execution_date_gte: DateParam = None,
    execution_date_lte: DateParam = None,
    start_date_gte: DateParam = None,
    start_date_lte: DateParam = None,
    end_date_gte: DateParam = None,
    end_date_lte: DateParam = None,
    updated_at_gte: DateParam = None,
    updated_at_lte: DateParam = None,
    duration_gte: float | None = None,
    duration_lte: float | None = None,
    state: ListParam = None,
    pool: ListParam = None,
    queue: ListParam = None,
    executor: ListParam = None,
    order_by: str | None = None,
) -> JSONResponse:
    filters = _query_filters(
        execution_date_gte=execution_date_gte,
        execution_date_lte=execution_date_lte,
        start_date_gte=start_date_gte,
        start_date_lte=start_date_lte,
        end_date_gte=end_date_gte,
        end_date_lte=end_date_lte,
        updated_at_gte=updated_at_gte,
        updated_at_lte=updated_at_lte,
        duration_gte=duration_gte,
        duration_lte=duration_lte,
        state=state,
        pool=pool,
        queue=queue,
        executor=executor,
    )
    query = _task_instances_query().where(
        TaskInstance.dag_id == dag_id,
        TaskInstance.run_id == dag_run_id,
        TaskInstance.task_id == task_id,
        TaskInstance.map_index >= 0,
    )
    if session.scalar(select(func.count()).select_from(query.subquery())) == 0:
        # Zero can be a mapped task that expanded to nothing, so tell why there is nothing.
        dag = get_serialized_dag(dag_id, session=session)
        if dag is None:
            raise ApiError(404, None, title=f"DAG {dag_id} not found")
        if not dag.has_task(task_id):
            raise ApiError(404, None, title=f"Task id {task_id} not found")
        if not dag.get_task(task_id).is_mapped:
            raise ApiError(404, None, title=f"Task id {task_id} is not mapped")
    name = (order_by or "map_index").lstrip("-")
    if name not in _MAPPED_ORDER_BY:
        raise ApiError(400, f"Ordering with {order_by!r} is not supported")
    order = order_by_clauses(
        order_by,
        allowed=_MAPPED_ORDER_BY,
        default="map_index",
        tiebreakers=[TaskInstance.map_index],
    )
    return _page_of_task_instances(session, _filter(query, **filters), page, order)


def _with_deferral(ti: TaskInstance, logical_date: dt.datetime, session: Session) -> dict[str, Any]:
    deferral = triggers.triggers_with_jobs([ti.trigger_id], session=session).get(ti.trigger_id)
    return task_instance_to_dict(ti, logical_date, deferral)


# -- one task instance --------------------------------------------------------------------------


def _one(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int | None, session: Session
) -> JSONResponse:
    try:
        ti, logical_date = ti_service.get_task_instance(
            dag_id, dag_run_id, task_id, map_index=map_index, session=session
        )
    except ti_service.TaskInstanceIsMapped as exc:
        raise ApiError(404, str(exc), title=TI_NOT_FOUND) from None
    except NotFound:
        raise ApiError(404, title=TI_NOT_FOUND) from None
    return JSONResponse(_with_deferral(ti, logical_date, session))


@router.get(
    "/{task_id}",
    operation_id="get_task_instance",
    dependencies=[READ_TI],
    response_model=None,
    responses={200: {"model": TaskInstanceResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, session: DbSession
) -> JSONResponse:
    return _one(dag_id, dag_run_id, task_id, None, session)


@router.get(
    "/{task_id}/{map_index:int}",
    operation_id="get_mapped_task_instance",
    dependencies=[READ_TI],
    response_model=None,
    responses={200: {"model": TaskInstanceResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_mapped_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, session: DbSession
) -> JSONResponse:
    return _one(dag_id, dag_run_id, task_id, map_index, session)


# -- marking one task instance ------------------------------------------------------------------


def _patch(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: UpdateTaskInstanceBody,
    session: Session,
) -> JSONResponse:
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise ApiError(404, f"DAG {dag_id!r} not found", title="DAG not found")
    if not dag.has_task(task_id):
        raise ApiError(404, f"Task {task_id!r} not found in DAG {dag_id!r}", title="Task not found")
    try:
        ti, logical_date = ti_service.get_task_instance(
            dag_id, dag_run_id, task_id, map_index=map_index, session=session
        )
    except NotFound:
        raise ApiError(
            404,
            f"Task instance not found for task {task_id!r} on DAG run with ID {dag_run_id!r}",
        ) from None
    if not body.dry_run:
        run = ti_service.find_run(dag_id, run_id=dag_run_id, session=session)
        assert run is not None  # the task instance's run
        ti_service.set_task_instance_state(
            dag,
            task_id=task_id,
            run=run,
            state=body.new_state,
            map_indexes=[map_index],
            commit=True,
            session=session,
        )
    return JSONResponse(task_instance_reference(ti, logical_date))


@router.patch(
    "/{task_id}",
    operation_id="patch_task_instance",
    dependencies=[EDIT_TI, Depends(audit("patch_task_instance"))],
    response_model=None,
    responses={
        200: {"model": TaskInstanceReferenceResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def patch_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, body: UpdateTaskInstanceBody, session: DbSession
) -> JSONResponse:
    return _patch(dag_id, dag_run_id, task_id, -1, body, session)


@router.patch(
    "/{task_id}/{map_index:int}",
    operation_id="patch_mapped_task_instance",
    dependencies=[EDIT_TI, Depends(audit("patch_mapped_task_instance"))],
    response_model=None,
    responses={
        200: {"model": TaskInstanceReferenceResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def patch_mapped_task_instance(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: UpdateTaskInstanceBody,
    session: DbSession,
) -> JSONResponse:
    return _patch(dag_id, dag_run_id, task_id, map_index, body, session)


# -- notes --------------------------------------------------------------------------------------


def _set_note(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, note: str, session: Session
) -> JSONResponse:
    try:
        ti, logical_date = ti_service.set_note(
            dag_id, dag_run_id, task_id, note, map_index=map_index, session=session
        )
    except BadRequest as exc:
        raise ApiError(400, str(exc)) from None
    except NotFound:
        raise ApiError(
            404,
            title=(
                f"Task Instance not found for dag_id={dag_id}, run_id={dag_run_id}, "
                f"task_id={task_id}"
            ),
        ) from None
    return JSONResponse(_with_deferral(ti, logical_date, session))


@router.patch(
    "/{task_id}/setNote",
    operation_id="set_task_instance_note",
    dependencies=[EDIT_TI, Depends(audit("set_task_instance_note"))],
    response_model=None,
    responses={200: {"model": TaskInstanceResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def set_task_instance_note(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: SetTaskInstanceNoteBody,
    session: DbSession,
) -> JSONResponse:
    return _set_note(dag_id, dag_run_id, task_id, -1, body.note, session)


@router.patch(
    "/{task_id}/{map_index:int}/setNote",
    operation_id="set_mapped_task_instance_note",
    dependencies=[EDIT_TI, Depends(audit("set_task_instance_note"))],
    response_model=None,
    responses={200: {"model": TaskInstanceResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def set_mapped_task_instance_note(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    body: SetTaskInstanceNoteBody,
    session: DbSession,
) -> JSONResponse:
    return _set_note(dag_id, dag_run_id, task_id, map_index, body.note, session)


# -- dependencies -------------------------------------------------------------------------------


def _dependencies(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, session: Session
) -> JSONResponse:
    try:
        ti, _ = ti_service.get_task_instance(
            dag_id, dag_run_id, task_id, map_index=map_index, session=session
        )
    except NotFound:
        raise ApiError(
            404,
            title=(
                f"Task Instance not found for dag_id={dag_id}, run_id={dag_run_id}, "
                f"task_id={task_id}"
            ),
        ) from None
    failed = ti_service.blocking_dependencies(
        ti, evaluate_trigger_rule=trigger_rules.evaluate, session=session
    )
    deps = [{"name": dep.name, "reason": dep.reason} for dep in failed]
    return JSONResponse({"dependencies": deps})


@router.get(
    "/{task_id}/dependencies",
    operation_id="get_task_instance_dependencies",
    dependencies=[READ_TI],
    response_model=None,
    responses={
        200: {"model": TaskInstanceDependencyCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def get_task_instance_dependencies(
    dag_id: str, dag_run_id: str, task_id: str, session: DbSession
) -> JSONResponse:
    return _dependencies(dag_id, dag_run_id, task_id, -1, session)


@router.get(
    "/{task_id}/{map_index:int}/dependencies",
    operation_id="get_mapped_task_instance_dependencies",
    dependencies=[READ_TI],
    response_model=None,
    responses={
        200: {"model": TaskInstanceDependencyCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def get_mapped_task_instance_dependencies(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, session: DbSession
) -> JSONResponse:
    return _dependencies(dag_id, dag_run_id, task_id, map_index, session)


# -- tries --------------------------------------------------------------------------------------


def _tries(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    page: Page,
    order_by: str | None,
    session: Session,
) -> JSONResponse:
    query = ti_service.tries_query(dag_id, dag_run_id, task_id, map_index)
    columns = query.selected_columns
    order = order_by_clauses(
        order_by,
        allowed={name: columns[name] for name in _TRY_ORDER_BY},
        default="try_number",
        tiebreakers=[columns["try_number"]],
    )
    if not ti_service.task_instance_exists(dag_id, dag_run_id, task_id, map_index, session=session):
        raise ApiError(
            404,
            f"Task Instance not found for dag_id={dag_id}, run_id={dag_run_id}, "
            f"task_id={task_id}, map_index={map_index}",
            title=TI_NOT_FOUND,
        )
    rows, total = fetch_page(session, query, page, order)
    items = [task_instance_try_to_dict(row, ti_service.try_state(row)) for row in rows]
    return JSONResponse(
        {"task_instances": items, "task_instances_history": items, "total_entries": total}
    )


def _try(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    try_number: int,
    session: Session,
) -> JSONResponse:
    try:
        row = ti_service.get_try(
            dag_id, dag_run_id, task_id, try_number, map_index=map_index, session=session
        )
    except NotFound as exc:
        raise ApiError(404, str(exc), title=TI_NOT_FOUND) from None
    return JSONResponse(task_instance_try_to_dict(row, ti_service.try_state(row)))


_TRIES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": TaskInstanceHistoryCollectionResponse},
    **error_responses(400, 401, 403, 404),
}
_TRY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": TaskInstanceHistoryResponse},
    **error_responses(401, 403, 404),
}


@router.get(
    "/{task_id}/tries",
    operation_id="get_task_instance_tries",
    dependencies=[READ_TI],
    response_model=None,
    responses=_TRIES_RESPONSES,
)
@db_handler
def get_task_instance_tries(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    session: DbSession,
    page: PageParams,
    order_by: str | None = None,
) -> JSONResponse:
    return _tries(dag_id, dag_run_id, task_id, -1, page, order_by, session)


@router.get(
    "/{task_id}/{map_index:int}/tries",
    operation_id="get_mapped_task_instance_tries",
    dependencies=[READ_TI],
    response_model=None,
    responses=_TRIES_RESPONSES,
)
@db_handler
def get_mapped_task_instance_tries(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    session: DbSession,
    page: PageParams,
    order_by: str | None = None,
) -> JSONResponse:
    return _tries(dag_id, dag_run_id, task_id, map_index, page, order_by, session)


@router.get(
    "/{task_id}/tries/{task_try_number:int}",
    operation_id="get_task_instance_try_details",
    dependencies=[READ_TI],
    response_model=None,
    responses=_TRY_RESPONSES,
)
@db_handler
def get_task_instance_try_details(
    dag_id: str, dag_run_id: str, task_id: str, task_try_number: int, session: DbSession
) -> JSONResponse:
    return _try(dag_id, dag_run_id, task_id, -1, task_try_number, session)


@router.get(
    "/{task_id}/{map_index:int}/tries/{task_try_number:int}",
    operation_id="get_mapped_task_instance_try_details",
    dependencies=[READ_TI],
    response_model=None,
    responses=_TRY_RESPONSES,
)
@db_handler
def get_mapped_task_instance_try_details(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    task_try_number: int,
    session: DbSession,
) -> JSONResponse:
    return _try(dag_id, dag_run_id, task_id, map_index, task_try_number, session)


# -- extra links --------------------------------------------------------------------------------


@router.get(
    "/{task_id}/links",
    operation_id="get_extra_links",
    dependencies=[READ_TI],
    response_model=None,
    responses={200: {"model": ExtraLinkCollectionResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_extra_links(
    dag_id: str, dag_run_id: str, task_id: str, session: DbSession, map_index: int = -1
) -> JSONResponse:
    """Aerovane's operators define no extra links, so a found task instance has none."""
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise ApiError(404, f'DAG with ID = "{dag_id}" not found', title="DAG not found")
    if not dag.has_task(task_id):
        raise ApiError(404, f'Task with ID = "{task_id}" not found', title="Task not found")
    if not ti_service.task_instance_exists(dag_id, dag_run_id, task_id, map_index, session=session):
        raise ApiError(
            404, f'DAG Run with ID = "{dag_run_id}" not found', title="DAG Run not found"
        )
    return JSONResponse({"extra_links": []})


# -- DAG-level: clear and set state -------------------------------------------------------------


def _references(rows: Sequence[tuple[TaskInstance, dt.datetime]]) -> JSONResponse:
    return JSONResponse(
        {"task_instances": [task_instance_reference(ti, date) for ti, date in rows]}
    )


@dag_router.post(
    "/{dag_id}/clearTaskInstances",
    operation_id="post_clear_task_instances",
    dependencies=[EDIT_TI, Depends(audit("post_clear_task_instances"))],
    response_model=None,
    responses={
        200: {"model": TaskInstanceReferenceCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def post_clear_task_instances(
    dag_id: str, body: ClearTaskInstancesBody, session: DbSession
) -> JSONResponse:
    if (problem := body.form_error()) is not None:
        raise ApiError(400, schema_error(problem))
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise ApiError(404, title=f"Dag id {dag_id} not found")
    start_date, end_date = body.start_date, body.end_date
    if body.dag_run_id is not None:
        run = ti_service.find_run(dag_id, run_id=body.dag_run_id, session=session)
        if run is None:
            raise ApiError(404, title=f"Dag Run id {body.dag_run_id} not found in dag {dag_id}")
        start_date = end_date = run.logical_date
    if body.include_past:
        start_date = None
    if body.include_future:
        end_date = None
    selected = ti_service.find_task_instances_to_clear(
        dag,
        task_ids=body.task_ids,
        start_date=start_date,
        end_date=end_date,
        only_failed=body.only_failed,
        only_running=body.only_running,
        include_upstream=body.include_upstream,
        include_downstream=body.include_downstream,
        include_dependent_dags=body.include_subdags,  # Airflow's DAG.clear reads it so too
        lock=not body.dry_run,
        session=session,
    )
    if not body.dry_run and selected:
        ti_service.clear_task_instances(
            [ti for ti, _ in selected],
            dag=dag,
            reset_dag_runs=body.reset_dag_runs,
            session=session,
        )
    return _references(selected)


@dag_router.post(
    "/{dag_id}/updateTaskInstancesState",
    operation_id="post_set_task_instances_state",
    dependencies=[EDIT_TI, Depends(audit("post_set_task_instances_state"))],
    response_model=None,
    responses={
        200: {"model": TaskInstanceReferenceCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def post_set_task_instances_state(
    dag_id: str, body: UpdateTaskInstancesStateBody, session: DbSession
) -> JSONResponse:
    if (problem := body.form_error()) is not None:
        raise ApiError(400, schema_error(problem))
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise ApiError(404, title=f"Dag ID {dag_id} not found")
    task_id = body.task_id
    if not dag.has_task(task_id):
        raise ApiError(404, title=f"Task ID {task_id} not found")
    if body.execution_date is not None:
        run = ti_service.find_run(dag_id, logical_date=body.execution_date, session=session)
        missing = (
            f"Task instance not found for task {task_id!r} on execution_date {body.execution_date}"
        )
    else:
        run = ti_service.find_run(dag_id, run_id=body.dag_run_id, session=session)
        missing = (
            f"Task instance not found for task {task_id!r} on DAG run with ID {body.dag_run_id!r}"
        )
    if run is None or not ti_service.task_instance_exists(
        dag_id, run.run_id, task_id, -1, session=session
    ):
        raise ApiError(404, missing)
    selected = ti_service.set_task_instance_state(
        dag,
        task_id=task_id,
        run=run,
        state=body.new_state,
        upstream=body.include_upstream,
        downstream=body.include_downstream,
        future=body.include_future,
        past=body.include_past,
        commit=not body.dry_run,
        session=session,
    )
    return _references(selected)
