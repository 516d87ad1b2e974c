"""`/dags`: list DAGs, get one (and its details and tasks), pause or unpause one or many,
delete one.

Lists show only DAGs the caller may read (global `DAGs` or per-DAG grants); a bulk PATCH
touches only DAGs the caller may edit. A page costs at most two queries whatever its size: the
DAG rows with their tags, and a COUNT when the page does not tell the total. Details and tasks come
from the serialized DAG (`aerovane.services.dag_bag`), never from user code.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from aerovane.api.deps import (
    CurrentPrincipal,
    DbSession,
    audit,
    db_handler,
    requires_access_dag,
)
from aerovane.api.errors import ApiError
from aerovane.api.pagination import (
    PageParams,
    fetch_page,
    fetch_prepared_page,
    order_by_clauses,
    prepared_page,
)
from aerovane.api.params import check_fields, split_csv
from aerovane.api.responses import JSONResponse
from aerovane.api.signing import file_token
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.dags import (
    DAG_DETAIL_FIELDS,
    DAG_FIELDS,
    DAGCollectionResponse,
    DAGDetailResponse,
    DAGPatchBody,
    DAGResponse,
    TaskCollectionResponse,
    TaskResponse,
    dag_detail_to_dict,
    dag_to_dict,
    params_json,
    task_to_dict,
)
from aerovane.auth.permissions import EDIT, READ
from aerovane.auth.rbac import DagEntity, permitted_dag_ids
from aerovane.db.functions import json_array_agg
from aerovane.db.models import DagModel, DagTag
from aerovane.db.notify import wake_on_commit
from aerovane.services import dags as dag_service
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.errors import NotFound

router = APIRouter(prefix="/dags", tags=["DAG"])

# Table columns, not ORM attributes, in read queries: plain rows and no ORM execution layer.
DAG = DagModel.__table__.c
TAG = DagTag.__table__.c
DAG_COLUMNS = tuple(DagModel.__table__.columns)
_ORDER_BY = {"dag_id": DAG.dag_id}


_TAGS_OF = (
    select(TAG.dag_id, TAG.name)
    .where(TAG.dag_id.in_(bindparam("dag_ids", expanding=True)))
    .order_by(TAG.dag_id, TAG.name)
)


def _tags_by_dag(session: Session, dag_ids: Sequence[str]) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = defaultdict(list)
    if dag_ids:
        for dag_id, name in session.execute(_TAGS_OF, {"dag_ids": list(dag_ids)}).all():
            tags[dag_id].append(name)
    return tags


#: Each DAG's tag names as a JSON array, in the page's own query (see `json_array_agg`).
_TAG_NAMES = (
    select(json_array_agg(TAG.name))
    .where(TAG.dag_id == DAG.dag_id)
    .scalar_subquery()
    .label("tag_names_")
)


def _tag_names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # SQLite's JSON text
        return sorted(json.loads(value))
    return list(value)


def _project(item: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    return item if fields is None else {name: item[name] for name in fields}


@router.get(
    "",
    operation_id="get_dags",
    dependencies=[Depends(requires_access_dag("GET"))],
    response_model=None,
    responses={200: {"model": DAGCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_dags(
    session: DbSession,
    principal: CurrentPrincipal,
    page: PageParams,
    order_by: str | None = None,
    tags: Annotated[list[str] | None, Query()] = None,
    only_active: bool = True,
    paused: bool | None = None,
    fields: Annotated[list[str] | None, Query()] = None,
    dag_id_pattern: str | None = None,
) -> JSONResponse:
    selected = check_fields(fields, DAG_FIELDS, "DAGCollectionSchema")
    order = order_by_clauses(order_by, allowed=_ORDER_BY, default="dag_id")
    allowed = permitted_dag_ids(principal.permissions, READ)
    params: dict[str, Any] = {}
    if dag_id_pattern:
        params["pattern"] = f"%{dag_id_pattern}%"
    if allowed is not None:
        params["allowed"] = sorted(allowed)
    if tags:
        params["tags"] = tags

    def build() -> tuple[Any, list[Any]]:
        query = select(*DAG_COLUMNS, _TAG_NAMES)
        if only_active:
            query = query.where(DAG.is_active.is_(True))
        if paused is not None:
            query = query.where(DAG.is_paused.is_(paused))
        if "pattern" in params:
            query = query.where(DAG.dag_id.ilike(bindparam("pattern")))
        if "allowed" in params:
            query = query.where(DAG.dag_id.in_(bindparam("allowed", expanding=True)))
        if "tags" in params:
            query = query.where(
                exists().where(
                    TAG.dag_id == DAG.dag_id, TAG.name.in_(bindparam("tags", expanding=True))
                )
            )
        return query, order

    shape = ("get_dags", only_active, paused, *sorted(params), (order_by or "").strip())
    rows, total = fetch_prepared_page(session, prepared_page(shape, build), params, page)
    dags = [
        _project(dag_to_dict(row, _tag_names(row.tag_names_), file_token(row.fileloc)), selected)
        for row in rows
    ]
    return JSONResponse({"dags": dags, "total_entries": total})


def _not_found(dag_id: str) -> ApiError:
    return ApiError(404, f"The DAG with dag_id: {dag_id} was not found", title="DAG not found")


@router.get(
    "/{dag_id}",
    operation_id="get_dag",
    dependencies=[Depends(requires_access_dag("GET"))],
    response_model=None,
    responses={200: {"model": DAGResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_dag(
    dag_id: str,
    session: DbSession,
    fields: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    selected = check_fields(fields, DAG_FIELDS, "DAGSchema")
    row = session.execute(select(*DAG_COLUMNS).where(DAG.dag_id == dag_id)).first()
    if row is None:
        raise _not_found(dag_id)
    tags = _tags_by_dag(session, [dag_id]).get(dag_id, [])
    return JSONResponse(_project(dag_to_dict(row, tags, file_token(row.fileloc)), selected))


@router.patch(
    "/{dag_id}",
    operation_id="patch_dag",
    dependencies=[Depends(requires_access_dag("PUT")), Depends(audit("patch_dag"))],
    response_model=None,
    responses={200: {"model": DAGResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def patch_dag(
    dag_id: str,
    body: DAGPatchBody,
    session: DbSession,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    mask = split_csv(update_mask)
    if mask and mask != ["is_paused"]:
        raise ApiError(400, "Only `is_paused` field can be updated through the REST API")
    dag = session.get(DagModel, dag_id)
    if dag is None:
        raise ApiError(404, title=f"Dag with id: '{dag_id}' not found")
    was_paused = dag.is_paused
    dag.is_paused = body.is_paused
    session.flush()
    if was_paused and not body.is_paused:
        # An unpaused DAG may be due a run now; don't make it wait for the idle poll.
        wake_on_commit(session, "scheduler")
    result = dag_to_dict(dag, [tag.name for tag in dag.tags], file_token(dag.fileloc))
    return JSONResponse(result)


@router.patch(
    "",
    operation_id="patch_dags",
    dependencies=[Depends(requires_access_dag("PUT")), Depends(audit("patch_dags"))],
    response_model=None,
    responses={200: {"model": DAGCollectionResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def patch_dags(
    body: DAGPatchBody,
    session: DbSession,
    principal: CurrentPrincipal,
    page: PageParams,
    dag_id_pattern: Annotated[str, Query(description="`~` matches every DAG.")],
    tags: Annotated[list[str] | None, Query()] = None,
    only_active: bool = True,
    update_mask: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    """Pause or unpause one page of the DAGs that match and that the caller may edit."""
    mask = split_csv(update_mask)
    if mask and mask != ["is_paused"]:
        raise ApiError(400, "Only `is_paused` field can be updated through the REST API")
    query = select(*DAG_COLUMNS)
    if only_active:
        query = query.where(DAG.is_active.is_(True))
    pattern = "" if dag_id_pattern == "~" else dag_id_pattern
    query = query.where(DAG.dag_id.ilike(f"%{pattern}%"))
    allowed = permitted_dag_ids(principal.permissions, EDIT)
    if allowed is not None:
        query = query.where(DAG.dag_id.in_(sorted(allowed)))
    if tags:
        query = query.where(exists().where(TAG.dag_id == DAG.dag_id, TAG.name.in_(tags)))
    rows, total = fetch_page(session, query, page, [DAG.dag_id.asc()])
    dag_service.set_paused([row.dag_id for row in rows], body.is_paused, session=session)
    tags_by_dag = _tags_by_dag(session, [row.dag_id for row in rows])
    dags = [
        {
            **dag_to_dict(row, tags_by_dag.get(row.dag_id, ()), file_token(row.fileloc)),
            "is_paused": body.is_paused,
        }
        for row in rows
    ]
    return JSONResponse({"dags": dags, "total_entries": total})


@router.delete(
    "/{dag_id}",
    operation_id="delete_dag",
    status_code=204,
    dependencies=[Depends(requires_access_dag("DELETE")), Depends(audit("delete_dag"))],
    response_model=None,
    responses={204: {"description": "Success."}, **error_responses(400, 401, 403, 404, 409)},
)
@db_handler
def delete_dag(dag_id: str, session: DbSession) -> Response:
    """Delete the DAG's rows everywhere (409 while any of its task instances runs)."""
    try:
        dag_service.delete_dag(dag_id, session=session)
    except NotFound:
        raise ApiError(404, title=f"Dag with id: '{dag_id}' not found") from None
    except dag_service.TaskInstancesStillRunning as exc:
        raise ApiError(409, str(exc)) from None
    return Response(status_code=204)


@router.get(
    "/{dag_id}/details",
    operation_id="get_dag_details",
    dependencies=[Depends(requires_access_dag("GET"))],
    response_model=None,
    responses={200: {"model": DAGDetailResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_dag_details(
    dag_id: str,
    session: DbSession,
    fields: Annotated[list[str] | None, Query()] = None,
) -> JSONResponse:
    selected = check_fields(fields, DAG_DETAIL_FIELDS, "DAGDetailSchema")
    try:
        dag_model, dag = dag_service.get_dag_with_model(dag_id, session=session)
    except NotFound:
        raise _not_found(dag_id) from None
    detail = dag_detail_to_dict(
        dag_model, [tag.name for tag in dag_model.tags], file_token(dag_model.fileloc), dag
    )
    return JSONResponse(_project(detail, selected))


def _task_sort_key(name: str) -> Any:
    def key(task: dict[str, Any]) -> tuple[bool, Any]:
        value = task[name]
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        return (value is not None, value)

    return key


@router.get(
    "/{dag_id}/tasks",
    operation_id="get_tasks",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.TASK))],
    response_model=None,
    responses={200: {"model": TaskCollectionResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_tasks(dag_id: str, session: DbSession, order_by: str | None = None) -> JSONResponse:
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise ApiError(404, title="DAG not found")
    params = params_json(dag.params)
    # Ties keep task_id order.
    tasks = [task_to_dict(dag.task_dict[t], params) for t in sorted(dag.task_dict)]
    value = (order_by or "").strip() or "task_id"
    name = value.lstrip("-")
    if name not in TaskResponse.model_fields:
        raise ApiError(400, f"'SerializedBaseOperator' object has no attribute '{name}'")
    tasks.sort(key=_task_sort_key(name), reverse=value.startswith("-"))
    return JSONResponse({"tasks": tasks, "total_entries": len(tasks)})


@router.get(
    "/{dag_id}/tasks/{task_id}",
    operation_id="get_task",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.TASK))],
    response_model=None,
    responses={200: {"model": TaskResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_task(dag_id: str, task_id: str, session: DbSession) -> JSONResponse:
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise ApiError(404, title="DAG not found")
    task = dag.task_dict.get(task_id)
    if task is None:
        raise ApiError(404, title="Task not found")
    return JSONResponse(task_to_dict(task, params_json(dag.params)))
