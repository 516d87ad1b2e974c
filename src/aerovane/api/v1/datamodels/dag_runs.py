"""DAG run responses and request bodies (trigger, batch list, state, clear, note), and the
dataset events that triggered a run."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aerovane.api.v1.datamodels.common import JsonBool, OmittableString, StrictModel, iso
from aerovane.services import strict_json

NAIVE_DISALLOWED = "Naive datetime is disallowed"


class DAGRunResponse(StrictModel):
    dag_run_id: str | None
    dag_id: str
    logical_date: dt.datetime | None
    execution_date: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    last_scheduling_decision: dt.datetime | None
    run_type: Literal["backfill", "manual", "scheduled", "dataset_triggered"]
    state: Literal["queued", "running", "success", "failed"]
    external_trigger: bool
    conf: dict[str, Any]
    note: str | None


class DAGRunCollectionResponse(StrictModel):
    dag_runs: list[DAGRunResponse]
    total_entries: int


class TriggerDAGRunBody(StrictModel):
    """The writable DAGRun fields; read-only ones (state, run_type, ...) are refused."""

    dag_run_id: str | None = None
    logical_date: dt.datetime | None = None
    execution_date: dt.datetime | None = None
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = None

    @field_validator("logical_date", "execution_date", "data_interval_start", "data_interval_end")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(NAIVE_DISALLOWED)
        return value.astimezone(dt.UTC)

    @field_validator("conf", mode="before")
    @classmethod
    def _conf_from_string(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("None is not of type 'object'")
        if isinstance(value, str):
            try:
                return strict_json.loads(value)
            except strict_json.InvalidJson as exc:
                raise ValueError(f"conf must be a JSON object: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TriggerDAGRunBody:
        if (
            self.logical_date is not None
            and self.execution_date is not None
            and self.logical_date != self.execution_date
        ):
            raise ValueError("logical_date conflicts with execution_date")
        if (self.data_interval_start is None) != (self.data_interval_end is None):
            raise ValueError(
                "Both 'data_interval_start' and 'data_interval_end' must be specified together"
            )
        if (
            self.data_interval_start is not None
            and self.data_interval_end is not None
            and self.data_interval_start > self.data_interval_end
        ):
            raise ValueError("'data_interval_start' must not be after 'data_interval_end'")
        return self

    @property
    def effective_logical_date(self) -> dt.datetime | None:
        return self.logical_date if self.logical_date is not None else self.execution_date


DAG_RUN_FIELDS: tuple[str, ...] = tuple(DAGRunResponse.model_fields)


def dag_run_to_dict(run: Any) -> dict[str, Any]:
    """A `dag_run` row (ORM object or row with the ORM attribute names) as a DAGRun."""
    logical = iso(run.logical_date)
    return {
        "dag_run_id": run.run_id,
        "dag_id": run.dag_id,
        "logical_date": logical,
        "execution_date": logical,
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
        "last_scheduling_decision": iso(run.last_scheduling_decision),
        "run_type": run.run_type,
        "state": run.state,
        "external_trigger": bool(run.external_trigger),
        "conf": run.conf if isinstance(run.conf, dict) else {},
        "note": run.note,
    }


def dag_run_list_item(row: Any) -> dict[str, Any]:
    """`dag_run_to_dict` for a row of the list's columns, whose datetimes the database already
    read as ISO text (`stored_datetime`)."""
    return {
        "dag_run_id": row.run_id,
        "dag_id": row.dag_id,
        "logical_date": row.logical_date,
        "execution_date": row.logical_date,
        "start_date": row.start_date,
        "end_date": row.end_date,
        "data_interval_start": row.data_interval_start,
        "data_interval_end": row.data_interval_end,
        "last_scheduling_decision": row.last_scheduling_decision,
        "run_type": row.run_type,
        "state": row.state,
        "external_trigger": bool(row.external_trigger),
        "conf": row.conf if isinstance(row.conf, dict) else {},
        "note": row.note,
    }


# -- batch list, state, clear, note ----------------------------------------------------------------


def _aware_or_none(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(NAIVE_DISALLOWED)
    return value.astimezone(dt.UTC)


class ListDagRunsBody(StrictModel):
    """`ListDagRunsForm`. `updated_at_gte`/`updated_at_lte` are accepted but, as on Airflow's
    server, not applied."""

    order_by: str | None = None
    page_offset: int = Field(default=0, ge=0)
    page_limit: int = Field(default=100, ge=1)
    dag_ids: list[str] | None = None
    states: list[str] | None = None
    execution_date_gte: OmittableString[dt.datetime] = None
    execution_date_lte: OmittableString[dt.datetime] = None
    start_date_gte: OmittableString[dt.datetime] = None
    start_date_lte: OmittableString[dt.datetime] = None
    end_date_gte: OmittableString[dt.datetime] = None
    end_date_lte: OmittableString[dt.datetime] = None
    updated_at_gte: OmittableString[dt.datetime] = None
    updated_at_lte: OmittableString[dt.datetime] = None

    @field_validator(
        "execution_date_gte",
        "execution_date_lte",
        "start_date_gte",
        "start_date_lte",
        "end_date_gte",
        "end_date_lte",
        "updated_at_gte",
        "updated_at_lte",
    )
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        return _aware_or_none(value)


class UpdateDagRunStateBody(StrictModel):
    state: Literal["success", "failed", "queued"]


class ClearDagRunBody(StrictModel):
    dry_run: JsonBool = True


class SetDagRunNoteBody(StrictModel):
    note: str = Field(max_length=1000)


class TaskInstanceReference(StrictModel):
    task_id: str
    dag_id: str
    execution_date: str
    dag_run_id: str


class TaskInstanceReferenceCollection(StrictModel):
    task_instances: list[TaskInstanceReference]


def task_instance_reference(ti: Any, logical_date: dt.datetime) -> dict[str, Any]:
    return {
        "task_id": ti.task_id,
        "dag_id": ti.dag_id,
        "execution_date": iso(logical_date),
        "dag_run_id": ti.run_id,
    }


# -- upstream dataset events -----------------------------------------------------------------------


class BasicDAGRunResponse(StrictModel):
    """`BasicDAGRun` as the server sends it: the run id under `dag_run_id` (spec: `run_id`)."""

    dag_run_id: str
    dag_id: str
    logical_date: dt.datetime
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    state: Literal["queued", "running", "success", "failed"]
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None


class DatasetEventResponse(StrictModel):
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


def basic_dag_run_to_dict(run: Any) -> dict[str, Any]:
    return {
        "dag_run_id": run.run_id,
        "dag_id": run.dag_id,
        "logical_date": iso(run.logical_date),
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "state": run.state,
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
    }


def dataset_event_to_dict(event: Any, created_runs: list[Any]) -> dict[str, Any]:
    return {
        "id": event.id,
        "dataset_id": event.dataset_id,
        "dataset_uri": event.dataset.uri,
        "extra": event.extra if isinstance(event.extra, dict) else None,
        "source_dag_id": event.source_dag_id,
        "source_task_id": event.source_task_id,
        "source_run_id": event.source_run_id,
        "source_map_index": event.source_map_index,
        "created_dagruns": [basic_dag_run_to_dict(run) for run in created_runs],
        "timestamp": iso(event.timestamp),
    }
