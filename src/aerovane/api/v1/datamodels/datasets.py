"""Dataset, dataset event and queued event responses, and the event (POST) body."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from aerovane.api.v1.datamodels.common import StrictModel, iso


class DagScheduleDatasetReferenceResponse(StrictModel):
    dag_id: str | None
    created_at: str
    updated_at: str


class TaskOutletDatasetReferenceResponse(StrictModel):
    dag_id: str | None
    task_id: str | None
    created_at: str
    updated_at: str


class DatasetResponse(StrictModel):
    id: int
    uri: str
    extra: dict[str, Any] | None
    created_at: str
    updated_at: str
    consuming_dags: list[DagScheduleDatasetReferenceResponse]
    producing_tasks: list[TaskOutletDatasetReferenceResponse]


class DatasetCollectionResponse(StrictModel):
    datasets: list[DatasetResponse]
    total_entries: int


class BasicDAGRunResponse(StrictModel):
    """The spec names the run id `run_id`; Airflow's server sends `dag_run_id`. Both are sent so
    clients of either keep working."""

    run_id: str
    dag_run_id: str
    dag_id: str
    logical_date: dt.datetime
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    state: Literal["queued", "running", "success", "failed"]


class DatasetEventResponse(StrictModel):
    """`id` is not in the spec's schema but Airflow's server sends it."""

    id: int
    dataset_id: int
    dataset_uri: str
    extra: dict[str, Any] | None
    source_dag_id: str | None
    source_task_id: str | None
    source_run_id: str | None
    source_map_index: int | None
    created_dagruns: list[BasicDAGRunResponse]
    timestamp: str


class DatasetEventCollectionResponse(StrictModel):
    dataset_events: list[DatasetEventResponse]
    total_entries: int


class CreateDatasetEventBody(StrictModel):
    dataset_uri: str
    extra: dict[str, Any] | None = None


class QueuedEventResponse(StrictModel):
    uri: str
    dag_id: str
    created_at: dt.datetime


class QueuedEventCollectionResponse(StrictModel):
    datasets: list[QueuedEventResponse]
    total_entries: int


def _reference_dates(row: Any) -> dict[str, Any]:
    return {"created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def dataset_to_dict(row: Any, consuming: Sequence[Any], producing: Sequence[Any]) -> dict[str, Any]:
    """A `dataset` row and its references as a Dataset."""
    return {
        "id": row.id,
        "uri": row.uri,
        "extra": row.extra,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "consuming_dags": [{"dag_id": r.dag_id, **_reference_dates(r)} for r in consuming],
        "producing_tasks": [
            {"dag_id": r.dag_id, "task_id": r.task_id, **_reference_dates(r)} for r in producing
        ],
    }


def basic_dag_run_to_dict(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "dag_run_id": run.run_id,
        "dag_id": run.dag_id,
        "logical_date": iso(run.logical_date),
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
        "state": run.state,
    }


def dataset_event_to_dict(event: Any, dataset_uri: str, runs: Sequence[Any]) -> dict[str, Any]:
    """A `dataset_event` row, its dataset's URI and the runs it triggered as a DatasetEvent."""
    return {
        "id": event.id,
        "dataset_id": event.dataset_id,
        "dataset_uri": dataset_uri,
        "extra": event.extra,
        "source_dag_id": event.source_dag_id,
        "source_task_id": event.source_task_id,
        "source_run_id": event.source_run_id,
        "source_map_index": event.source_map_index,
        "created_dagruns": [basic_dag_run_to_dict(run) for run in runs],
        "timestamp": iso(event.timestamp),
    }


def queued_event_to_dict(row: Any) -> dict[str, Any]:
    return {"uri": row.uri, "dag_id": row.dag_id, "created_at": iso(row.created_at)}
