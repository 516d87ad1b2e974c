"""Task instance responses and request bodies, and log responses."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from aerovane.api.v1.datamodels.common import JsonBool, OmittableString, StrictModel, iso
from aerovane.services.redaction import redact

TaskStateValue = (
    Literal[
        "success",
        "running",
        "failed",
        "upstream_failed",
        "skipped",
        "up_for_retry",
        "up_for_reschedule",
        "queued",
        "none",
        "scheduled",
        "deferred",
        "removed",
        "restarting",
    ]
    | None
)


class TaskInstanceResponse(StrictModel):
    task_id: str
    task_display_name: str
    dag_id: str
    dag_run_id: str
    execution_date: str
    start_date: str | None
    end_date: str | None
    duration: float | None
    state: TaskStateValue
    try_number: int
    map_index: int
    max_tries: int
    hostname: str
    unixname: str
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    queued_when: str | None
    pid: int | None
    executor: str | None
    executor_config: str
    sla_miss: dict[str, Any] | None
    rendered_map_index: str | None
    rendered_fields: dict[str, Any]
    trigger: dict[str, Any] | None
    triggerer_job: dict[str, Any] | None
    note: str | None


class TaskInstanceCollectionResponse(StrictModel):
    task_instances: list[TaskInstanceResponse]
    total_entries: int


class TaskLogResponse(StrictModel):
    continuation_token: str
    content: str


def _executor_config_text(value: Any) -> str:
    # Airflow renders the (pickled) dict with str(); an empty config is "{}".
    if not value:
        return "{}"
    return value if isinstance(value, str) else str(value)


def trigger_to_dict(trigger: Any) -> dict[str, Any]:
    """Airflow's TriggerSchema: `kwargs` is the text of the trigger's keyword arguments (as
    Python prints the dict), with values under secret-like names masked."""
    from aerovane.services.triggers import decode

    return {
        "id": trigger.id,
        "classpath": trigger.classpath,
        "kwargs": str(redact(decode(trigger.kwargs))),
        "created_date": iso(trigger.created_date),
        "triggerer_id": trigger.triggerer_id,
    }


def job_to_dict(job: Any) -> dict[str, Any]:
    """Airflow's JobSchema (Aerovane's jobs belong to no DAG: `dag_id` is null)."""
    return {
        "id": job.id,
        "dag_id": None,
        "state": job.state,
        "job_type": job.job_type,
        "start_date": iso(job.start_date),
        "end_date": iso(job.end_date),
        "latest_heartbeat": iso(job.latest_heartbeat),
        "executor_class": job.executor_class,
        "hostname": job.hostname,
        "unixname": job.unixname,
    }


def task_instance_to_dict(
    ti: Any, logical_date: Any, deferral: tuple[Any, Any] | None = None
) -> dict[str, Any]:
    """A `task_instance` row plus its run's logical date, as a TaskInstance response;
    `deferral` is a deferred task instance's (trigger, triggerer job or None)."""
    trigger, job = deferral or (None, None)
    return {
        "task_id": ti.task_id,
        "task_display_name": ti.task_display_name or ti.task_id,
        "dag_id": ti.dag_id,
        "dag_run_id": ti.run_id,
        "execution_date": iso(logical_date),
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
        "duration": ti.duration,
        "state": ti.state,
        "try_number": ti.try_number,
        "map_index": ti.map_index,
        "max_tries": ti.max_tries,
        "hostname": ti.hostname or "",
        "unixname": ti.unixname or "",
        "pool": ti.pool or "default_pool",
        "pool_slots": ti.pool_slots,
        "queue": ti.queue,
        "priority_weight": ti.priority_weight,
        "operator": ti.operator,
        "queued_when": iso(ti.queued_dttm),
        "pid": ti.pid,
        "executor": ti.executor,
        "executor_config": _executor_config_text(ti.executor_config),
        "sla_miss": None,
        "rendered_map_index": getattr(ti, "rendered_map_index", None),
        "rendered_fields": _shown_rendered_fields(ti.rendered_fields),
        "trigger": trigger_to_dict(trigger) if trigger is not None else None,
        "triggerer_job": job_to_dict(job) if job is not None else None,
        "note": ti.note,
    }


def _shown_rendered_fields(stored: Any) -> dict[str, Any]:
    """Stored rendered fields are masked by the task runtime; redacting by name again also
    hides secrets in rows written before it masked them (a field or key named like a secret)."""
    if not isinstance(stored, dict):
        return {}
    return {name: redact(value, str(name)) for name, value in stored.items()}


# -- task instance references, tries, dependencies, links ---------------------------------------

UpdateTaskState = Literal["success", "failed", "skipped"]
NAIVE_DISALLOWED = "Naive datetime is disallowed"


class TaskInstanceReferenceResponse(StrictModel):
    task_id: str
    dag_id: str
    execution_date: str
    dag_run_id: str


class TaskInstanceReferenceCollectionResponse(StrictModel):
    task_instances: list[TaskInstanceReferenceResponse]


class TaskInstanceHistoryResponse(StrictModel):
    task_id: str
    task_display_name: str
    dag_id: str
    dag_run_id: str
    start_date: str | None
    end_date: str | None
    duration: float | None
    state: TaskStateValue
    try_number: int
    map_index: int
    max_tries: int
    hostname: str
    unixname: str
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    queued_when: str | None
    pid: int | None
    executor: str | None
    executor_config: str


class TaskInstanceHistoryCollectionResponse(StrictModel):
    """The spec names the list `task_instances_history`; Airflow's server (and the official
    client, which types these endpoints as TaskInstanceCollection) use `task_instances`. Both
    keys carry the same list."""

    task_instances: list[TaskInstanceHistoryResponse]
    task_instances_history: list[TaskInstanceHistoryResponse]
    total_entries: int


class TaskFailedDependencyResponse(StrictModel):
    name: str
    reason: str


class TaskInstanceDependencyCollectionResponse(StrictModel):
    dependencies: list[TaskFailedDependencyResponse]


class ExtraLinkResponse(StrictModel):
    class_ref: dict[str, Any] | None = None
    name: str
    href: str


class ExtraLinkCollectionResponse(StrictModel):
    extra_links: list[ExtraLinkResponse]


# -- request bodies -----------------------------------------------------------------------------


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(NAIVE_DISALLOWED)
    return value.astimezone(dt.UTC)


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]


def schema_error(message: str) -> str:
    """A form-level error as Airflow words it (marshmallow's messages dict, stringified)."""
    return f"{{'_schema': [{message!r}]}}"


class UpdateTaskInstanceBody(StrictModel):
    dry_run: JsonBool = True
    new_state: UpdateTaskState


class SetTaskInstanceNoteBody(StrictModel):
    note: str


class ClearTaskInstancesBody(StrictModel):
    dry_run: JsonBool = True
    task_ids: list[str] | None = Field(default=None, min_length=1)
    start_date: OmittableString[AwareDatetime] = None
    end_date: OmittableString[AwareDatetime] = None
    only_failed: JsonBool = True
    only_running: JsonBool = False
    include_subdags: JsonBool = False
    include_parentdag: JsonBool = False
    #: Airflow's server defaults this to false (the spec gives no default): without it, cleared
    #: task instances of a finished run wait until the run is started again.
    reset_dag_runs: JsonBool = False
    dag_run_id: str | None = None
    include_upstream: JsonBool = False
    include_downstream: JsonBool = False
    include_future: JsonBool = False
    include_past: JsonBool = False

    def form_error(self) -> str | None:
        """Airflow's cross-field checks, in its order and wording."""
        if self.only_failed and self.only_running:
            return "only_failed and only_running both are set to True"
        if self.start_date and self.end_date and self.start_date > self.end_date:
            return "end_date is sooner than start_date"
        if self.start_date and self.end_date and self.dag_run_id:
            return "Exactly one of dag_run_id or (start_date and end_date) must be provided"
        if self.start_date and self.dag_run_id:
            return "Exactly one of dag_run_id or start_date must be provided"
        if self.end_date and self.dag_run_id:
            return "Exactly one of dag_run_id or end_date must be provided"
        return None


class UpdateTaskInstancesStateBody(StrictModel):
    dry_run: JsonBool = True
    task_id: str
    execution_date: OmittableString[AwareDatetime] = None
    dag_run_id: str | None = None
    include_upstream: JsonBool
    include_downstream: JsonBool
    include_future: JsonBool
    include_past: JsonBool
    new_state: UpdateTaskState

    def form_error(self) -> str | None:
        if (self.execution_date is None) == (not self.dag_run_id):
            return "Exactly one of execution_date or dag_run_id must be provided"
        return None


class ListTaskInstanceFormBody(StrictModel):
    page_offset: int = Field(default=0, ge=0)
    page_limit: int = Field(default=100, ge=1)
    dag_ids: list[str] | None = None
    dag_run_ids: list[str] | None = None
    task_ids: list[str] | None = None
    execution_date_gte: OmittableString[AwareDatetime] = None
    execution_date_lte: OmittableString[AwareDatetime] = None
    start_date_gte: OmittableString[AwareDatetime] = None
    start_date_lte: OmittableString[AwareDatetime] = None
    end_date_gte: OmittableString[AwareDatetime] = None
    end_date_lte: OmittableString[AwareDatetime] = None
    duration_gte: float | None = None
    duration_lte: float | None = None
    state: list[TaskStateValue] | None = None
    pool: list[str] | None = None
    queue: list[str] | None = None
    executor: list[str] | None = None


def task_instance_reference(ti: Any, logical_date: Any) -> dict[str, Any]:
    return {
        "task_id": ti.task_id,
        "dag_id": ti.dag_id,
        "execution_date": iso(logical_date),
        "dag_run_id": ti.run_id,
    }


def task_instance_try_to_dict(row: Any, state: str | None) -> dict[str, Any]:
    """One attempt (a task instance or task instance history row) as a TaskInstanceHistory."""
    return {
        "task_id": row.task_id,
        "task_display_name": row.task_display_name or row.task_id,
        "dag_id": row.dag_id,
        "dag_run_id": row.run_id,
        "start_date": iso(row.start_date),
        "end_date": iso(row.end_date),
        "duration": row.duration,
        "state": state,
        "try_number": row.try_number,
        "map_index": row.map_index,
        "max_tries": row.max_tries,
        "hostname": row.hostname or "",
        "unixname": row.unixname or "",
        "pool": row.pool or "default_pool",
        "pool_slots": row.pool_slots,
        "queue": row.queue,
        "priority_weight": row.priority_weight,
        "operator": row.operator,
        "queued_when": iso(row.queued_dttm),
        "pid": row.pid,
        "executor": row.executor,
        "executor_config": _executor_config_text(row.executor_config),
    }
