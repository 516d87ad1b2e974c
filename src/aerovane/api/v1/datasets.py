"""Datasets: list and get datasets, list and create dataset events, and read or clear the
events queued for dataset-scheduled DAGs (`dataset_dag_run_queue`).

A dataset URI in a path is URL-encoded (`s3%3A%2F%2Fbucket%2Fkey`) and may hold slashes once
decoded, so the `{uri}` parameters take the rest of the path; the fixed routes
(`/datasets/events`, `/datasets/queuedEvent/...`) are declared first so they win. Creating an
event queues it for the consuming DAGs and wakes the schedulers once the transaction commits.
Pages cost a bounded number of queries: the rows, their references or triggered runs in one
query each, and a COUNT when the page does not tell the total.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from aerovane.api.deps import (
    CurrentPrincipal,
    DbSession,
    audit,
    db_handler,
    requires_access,
    requires_access_dag,
)
from aerovane.api.errors import ApiError
from aerovane.api.pagination import PageParams, fetch_page, order_by_clauses
from aerovane.api.params import INT32_MAX, INT32_MIN, parse_datetime, split_csv
from aerovane.api.responses import JSONResponse
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.datasets import (
    CreateDatasetEventBody,
    DatasetCollectionResponse,
    DatasetEventCollectionResponse,
    DatasetEventResponse,
    DatasetResponse,
    QueuedEventCollectionResponse,
    QueuedEventResponse,
    dataset_event_to_dict,
    dataset_to_dict,
    queued_event_to_dict,
)
from aerovane.auth.permissions import CREATE, DELETE, READ
from aerovane.auth.rbac import permitted_dag_ids
from aerovane.db.models import DatasetEvent, DatasetModel
from aerovane.services import datasets as dataset_service
from aerovane.services.errors import NotFound

router = APIRouter(tags=["Dataset"])

DATASETS = "Datasets"
QUEUE_NOT_FOUND = "Queue event not found"

_DATASET_ORDER = {
    "id": DatasetModel.id,
    "uri": DatasetModel.uri,
    "created_at": DatasetModel.created_at,
    "updated_at": DatasetModel.updated_at,
}
_EVENT_ORDER = {
    "source_dag_id": DatasetEvent.source_dag_id,
    "source_task_id": DatasetEvent.source_task_id,
    "source_run_id": DatasetEvent.source_run_id,
    "source_map_index": DatasetEvent.source_map_index,
    "timestamp": DatasetEvent.timestamp,
}

BeforeParam = Annotated[str | None, Query(description="ISO-8601 date-time")]
IntParam = Annotated[int | None, Query(ge=INT32_MIN, le=INT32_MAX)]


def _queued_collection(rows: list[object]) -> JSONResponse:
    events = [queued_event_to_dict(row) for row in rows]
    return JSONResponse({"datasets": events, "total_entries": len(events)})


# -- datasets and events --------------------------------------------------------------------------


@router.get(
    "/datasets",
    operation_id="get_datasets",
    dependencies=[Depends(requires_access(READ, DATASETS))],
    response_model=None,
    responses={200: {"model": DatasetCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_datasets(
    session: DbSession,
    page: PageParams,
    order_by: str | None = None,
    uri_pattern: str | None = None,
    dag_ids: str | None = None,
) -> JSONResponse:
    order = order_by_clauses(
        order_by, allowed=_DATASET_ORDER, default="id", tiebreakers=[DatasetModel.id]
    )
    query = dataset_service.dataset_query(
        uri_pattern=uri_pattern, dag_ids=split_csv([dag_ids] if dag_ids else None)
    )
    rows, total = fetch_page(session, query, page, order)
    consuming, producing = dataset_service.dataset_references(
        [row.id for row in rows], session=session
    )
    items = [dataset_to_dict(row, consuming[row.id], producing[row.id]) for row in rows]
    return JSONResponse({"datasets": items, "total_entries": total})


@router.get(
    "/datasets/events",
    operation_id="get_dataset_events",
    dependencies=[Depends(requires_access(READ, DATASETS))],
    response_model=None,
    responses={
        200: {"model": DatasetEventCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def get_dataset_events(
    session: DbSession,
    page: PageParams,
    order_by: str | None = None,
    dataset_id: IntParam = None,
    source_dag_id: str | None = None,
    source_task_id: str | None = None,
    source_run_id: str | None = None,
    source_map_index: IntParam = None,
) -> JSONResponse:
    order = order_by_clauses(
        order_by, allowed=_EVENT_ORDER, default="timestamp", tiebreakers=[DatasetEvent.id]
    )
    filters = dataset_service.EventFilter(
        dataset_id=dataset_id,
        source_dag_id=source_dag_id or None,
        source_task_id=source_task_id or None,
        source_run_id=source_run_id or None,
        source_map_index=source_map_index,
    )
    rows, total = fetch_page(session, dataset_service.dataset_event_query(filters), page, order)
    runs = dataset_service.created_dagruns([row.id for row in rows], session=session)
    items = [dataset_event_to_dict(row, row.dataset_uri, runs[row.id]) for row in rows]
    return JSONResponse({"dataset_events": items, "total_entries": total})


@router.post(
    "/datasets/events",
    operation_id="create_dataset_event",
    dependencies=[
        Depends(requires_access(CREATE, DATASETS)),
        Depends(audit("create_dataset_event")),
    ],
    response_model=None,
    responses={200: {"model": DatasetEventResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def create_dataset_event(body: CreateDatasetEventBody, session: DbSession) -> JSONResponse:
    try:
        event, uri = dataset_service.create_event(body.dataset_uri, body.extra, session=session)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="Dataset not found") from None
    return JSONResponse(dataset_event_to_dict(event, uri, []))


# -- events queued for a dataset ----------------------------------------------------------------


@router.get(
    "/datasets/queuedEvent/{uri:path}",
    operation_id="get_dataset_queued_events",
    dependencies=[Depends(requires_access(READ, DATASETS))],
    response_model=None,
    responses={
        200: {"model": QueuedEventCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def get_dataset_queued_events(
    uri: str, session: DbSession, principal: CurrentPrincipal, before: BeforeParam = None
) -> JSONResponse:
    rows = dataset_service.queued_events(
        uri=uri,
        before=parse_datetime(before, "before"),
        dag_ids=permitted_dag_ids(principal.permissions, READ),
        session=session,
    )
    if not rows:
        raise ApiError(
            404, f"Queue event with dataset uri: `{uri}` was not found", title=QUEUE_NOT_FOUND
        )
    return _queued_collection(rows)


@router.delete(
    "/datasets/queuedEvent/{uri:path}",
    operation_id="delete_dataset_queued_events",
    status_code=204,
    dependencies=[
        Depends(requires_access(DELETE, DATASETS)),
        Depends(audit("delete_dataset_queued_events")),
    ],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_dataset_queued_events(
    uri: str, session: DbSession, principal: CurrentPrincipal, before: BeforeParam = None
) -> Response:
    deleted = dataset_service.delete_queued_events(
        uri=uri,
        before=parse_datetime(before, "before"),
        dag_ids=permitted_dag_ids(principal.permissions, READ),
        session=session,
    )
    if not deleted:
        raise ApiError(
            404, f"Queue event with dataset uri: `{uri}` was not found", title=QUEUE_NOT_FOUND
        )
    return Response(status_code=204)


@router.get(
    "/datasets/{uri:path}",
    operation_id="get_dataset",
    dependencies=[Depends(requires_access(READ, DATASETS))],
    response_model=None,
    responses={200: {"model": DatasetResponse}, **error_responses(401, 403, 404)},
)
@db_handler
def get_dataset(uri: str, session: DbSession) -> JSONResponse:
    try:
        row = dataset_service.get_dataset(uri, session=session)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="Dataset not found") from None
    consuming, producing = dataset_service.dataset_references([row.id], session=session)
    return JSONResponse(dataset_to_dict(row, consuming[row.id], producing[row.id]))


# -- events queued for a DAG --------------------------------------------------------------------


@router.get(
    "/dags/{dag_id}/datasets/queuedEvent",
    operation_id="get_dag_dataset_queued_events",
    dependencies=[
        Depends(requires_access_dag("GET")),
        Depends(requires_access(READ, DATASETS)),
    ],
    response_model=None,
    responses={
        200: {"model": QueuedEventCollectionResponse},
        **error_responses(400, 401, 403, 404),
    },
)
@db_handler
def get_dag_dataset_queued_events(
    dag_id: str, session: DbSession, before: BeforeParam = None
) -> JSONResponse:
    rows = dataset_service.queued_events(
        dag_id=dag_id, before=parse_datetime(before, "before"), session=session
    )
    if not rows:
        raise ApiError(
            404, f"Queue event with dag_id: `{dag_id}` was not found", title=QUEUE_NOT_FOUND
        )
    return _queued_collection(rows)


@router.delete(
    "/dags/{dag_id}/datasets/queuedEvent",
    operation_id="delete_dag_dataset_queued_events",
    status_code=204,
    dependencies=[
        Depends(requires_access_dag("GET")),
        Depends(requires_access(DELETE, DATASETS)),
        Depends(audit("delete_dag_dataset_queued_events")),
    ],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_dag_dataset_queued_events(
    dag_id: str, session: DbSession, before: BeforeParam = None
) -> Response:
    deleted = dataset_service.delete_queued_events(
        dag_id=dag_id, before=parse_datetime(before, "before"), session=session
    )
    if not deleted:
        raise ApiError(
            404, f"Queue event with dag_id: `{dag_id}` was not found", title=QUEUE_NOT_FOUND
        )
    return Response(status_code=204)


@router.get(
    "/dags/{dag_id}/datasets/queuedEvent/{uri:path}",
    operation_id="get_dag_dataset_queued_event",
    dependencies=[
        Depends(requires_access_dag("GET")),
        Depends(requires_access(READ, DATASETS)),
    ],
    response_model=None,
    responses={200: {"model": QueuedEventResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_dag_dataset_queued_event(
    dag_id: str, uri: str, session: DbSession, before: BeforeParam = None
) -> JSONResponse:
    rows = dataset_service.queued_events(
        dag_id=dag_id, uri=uri, before=parse_datetime(before, "before"), session=session
    )
    if not rows:
        raise ApiError(
            404,
            f"Queue event with dag_id: `{dag_id}` and dataset uri: `{uri}` was not found",
            title=QUEUE_NOT_FOUND,
        )
    return JSONResponse(queued_event_to_dict(rows[0]))


@router.delete(
    "/dags/{dag_id}/datasets/queuedEvent/{uri:path}",
    operation_id="delete_dag_dataset_queued_event",
    status_code=204,
    dependencies=[
        Depends(requires_access_dag("GET")),
        Depends(requires_access(DELETE, DATASETS)),
        Depends(audit("delete_dag_dataset_queued_event")),
    ],
    response_model=None,
    responses=error_responses(400, 401, 403, 404),
)
@db_handler
def delete_dag_dataset_queued_event(
    dag_id: str, uri: str, session: DbSession, before: BeforeParam = None
) -> Response:
    deleted = dataset_service.delete_queued_events(
        dag_id=dag_id, uri=uri, before=parse_datetime(before, "before"), session=session
    )
    if not deleted:
        raise ApiError(
            404,
            f"Queue event with dag_id: `{dag_id}` and dataset uri: `{uri}` was not found",
            title=QUEUE_NOT_FOUND,
        )
    return Response(status_code=204)
