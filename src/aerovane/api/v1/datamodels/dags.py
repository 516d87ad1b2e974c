"""DAG responses and the PATCH body."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic import ConfigDict, Field

from aerovane.api.v1.datamodels.common import JsonBool, StrictModel, iso


class TimeDelta(StrictModel):
    type: str = Field(alias="__type")
    days: int
    seconds: int
    microseconds: int


class RelativeDelta(StrictModel):
    type: str = Field(alias="__type")
    years: int
    months: int
    days: int
    leapdays: int
    hours: int
    minutes: int
    seconds: int
    microseconds: int
    year: int | None
    month: int | None
    day: int | None
    hour: int | None
    minute: int | None
    second: int | None
    microsecond: int | None


class CronExpression(StrictModel):
    type: str = Field(alias="__type")
    value: str


ScheduleInterval = TimeDelta | RelativeDelta | CronExpression | None


class TagResponse(StrictModel):
    name: str


class DAGResponse(StrictModel):
    dag_id: str
    dag_display_name: str
    root_dag_id: str | None
    is_paused: bool | None
    is_active: bool | None
    is_subdag: bool
    last_parsed_time: dt.datetime | None
    last_pickled: dt.datetime | None
    last_expired: dt.datetime | None
    scheduler_lock: bool | None
    pickle_id: str | None
    default_view: str | None
    fileloc: str
    file_token: str
    owners: list[str]
    description: str | None
    schedule_interval: ScheduleInterval
    timetable_description: str | None
    tags: list[TagResponse] | None
    max_active_tasks: int | None
    max_active_runs: int | None
    max_consecutive_failed_dag_runs: int | None
    has_task_concurrency_limits: bool | None
    has_import_errors: bool | None
    next_dagrun: dt.datetime | None
    next_dagrun_data_interval_start: dt.datetime | None
    next_dagrun_data_interval_end: dt.datetime | None
    next_dagrun_create_after: dt.datetime | None


class DAGCollectionResponse(StrictModel):
    dags: list[DAGResponse]
    total_entries: int


class DAGPatchBody(StrictModel):
    """Only `is_paused` can change; other DAG fields are read-only and refused."""

    model_config = ConfigDict(extra="forbid")

    is_paused: JsonBool


DAG_FIELDS: tuple[str, ...] = tuple(DAGResponse.model_fields)


def schedule_interval_json(value: Any) -> dict[str, Any] | None:
    """The `{"__type": ...}` form of what the DAG row stores (a dict already, or a cron/preset
    string, or a number of seconds)."""
    if value is None:
        return None
    if isinstance(value, dict):
        if "__type" in value:
            return value
        if {"days", "seconds"} <= value.keys():
            return {
                "__type": "TimeDelta",
                "days": value.get("days", 0),
                "seconds": value.get("seconds", 0),
                "microseconds": value.get("microseconds", 0),
            }
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        delta = dt.timedelta(seconds=value)
        return {
            "__type": "TimeDelta",
            "days": delta.days,
            "seconds": delta.seconds,
            "microseconds": delta.microseconds,
        }
    return {"__type": "CronExpression", "value": str(value)}


def owners_list(owners: str | None) -> list[str]:
    if not owners:
        return []
    return [owner.strip() for owner in owners.split(",") if owner.strip()]


def dag_to_dict(row: Any, tags: Sequence[str], file_token: str) -> dict[str, Any]:
    """A `dag` row (ORM object or row with the same attribute names) as a DAG response."""
    return {
        "dag_id": row.dag_id,
        "dag_display_name": row.dag_display_name or row.dag_id,
        "root_dag_id": None,
        "is_paused": row.is_paused,
        "is_active": row.is_active,
        "is_subdag": False,
        "last_parsed_time": iso(row.last_parsed_time),
        "last_pickled": None,
        "last_expired": None,
        "scheduler_lock": None,
        "pickle_id": None,
        "default_view": row.default_view,
        "fileloc": row.fileloc or "",
        "file_token": file_token,
        "owners": owners_list(row.owners),
        "description": row.description,
        "schedule_interval": schedule_interval_json(row.schedule_interval),
        "timetable_description": row.timetable_description,
        "tags": [{"name": name} for name in tags],
        "max_active_tasks": row.max_active_tasks,
        "max_active_runs": row.max_active_runs,
        "max_consecutive_failed_dag_runs": 0,
        "has_task_concurrency_limits": row.has_task_concurrency_limits,
        "has_import_errors": row.has_import_errors,
        "next_dagrun": iso(row.next_dagrun),
        "next_dagrun_data_interval_start": iso(row.next_dagrun_data_interval_start),
        "next_dagrun_data_interval_end": iso(row.next_dagrun_data_interval_end),
        "next_dagrun_create_after": iso(row.next_dagrun_create_after),
    }


# -- DAG details ----------------------------------------------------------------------------------

#: The `__class` Airflow's `Param.dump()` names; clients of the Airflow API look for it.
PARAM_CLASS = "airflow.models.param.Param"


class DAGDetailResponse(DAGResponse):
    """`DAGDetail`. The real server's key is `template_searchpath` (the spec says
    `template_search_path`); its value is the list of paths or null."""

    timezone: str
    catchup: bool | None
    orientation: str | None
    concurrency: float | None
    start_date: dt.datetime | None
    dag_run_timeout: TimeDelta | None
    dataset_expression: dict[str, Any] | None
    doc_md: str | None
    params: dict[str, Any]
    end_date: dt.datetime | None
    is_paused_upon_creation: bool | None
    last_parsed: dt.datetime | None
    template_searchpath: list[str] | None
    render_template_as_native_obj: bool | None


DAG_DETAIL_FIELDS: tuple[str, ...] = tuple(DAGDetailResponse.model_fields)


def timedelta_json(value: dt.timedelta | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "__type": "TimeDelta",
        "days": value.days,
        "seconds": value.seconds,
        "microseconds": value.microseconds,
    }


def params_json(params: Any) -> dict[str, Any]:
    """A DAG's params as Airflow's `{name: Param.dump()}` (a missing default is null)."""
    out: dict[str, Any] = {}
    for name, param in params.serialize().items():
        out[name] = {
            "__class": PARAM_CLASS,
            "value": param.get("value") if param.get("has_default", True) else None,
            "description": param.get("description"),
            "schema": param.get("schema") or {},
        }
    return out


def dag_detail_to_dict(
    dag_model: Any, tags: Sequence[str], file_token: str, dag: Any
) -> dict[str, Any]:
    """A DAG's row plus its serialized form as a DAGDetail response."""
    return {
        **dag_to_dict(dag_model, tags, file_token),
        "timezone": dag.timezone,  # the start date's zone name, as `str(dag.timezone)`
        "catchup": dag.catchup,
        "orientation": dag.orientation,
        "concurrency": dag_model.max_active_tasks,
        "start_date": iso(dag.start_date),
        "dag_run_timeout": timedelta_json(dag.dagrun_timeout),
        "dataset_expression": dag_model.dataset_expression,
        "doc_md": dag.doc_md,
        "params": params_json(dag.params),
        "end_date": iso(dag.end_date),
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "last_parsed": iso(dag_model.last_parsed_time),
        "template_searchpath": dag.template_searchpath,
        "render_template_as_native_obj": dag.render_template_as_native_obj,
    }


# -- tasks ----------------------------------------------------------------------------------------


class ClassReference(StrictModel):
    module_path: str
    class_name: str


class TaskResponse(StrictModel):
    """`Task` as Airflow's server sends it: the spec's fields (no `sub_dag`, which Airflow 2
    omits) plus `operator_name`, `params` and `is_mapped`."""

    class_ref: ClassReference
    operator_name: str
    task_id: str
    task_display_name: str
    owner: str
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    trigger_rule: str
    extra_links: list[dict[str, Any]]
    depends_on_past: bool
    is_mapped: bool
    wait_for_downstream: bool
    retries: float
    queue: str | None
    executor: str | None
    pool: str
    pool_slots: float
    execution_timeout: TimeDelta | None
    retry_delay: TimeDelta | None
    retry_exponential_backoff: bool
    priority_weight: float
    weight_rule: str
    ui_color: str
    ui_fgcolor: str
    template_fields: list[str]
    downstream_task_ids: list[str]
    params: dict[str, Any]
    doc_md: str | None


class TaskCollectionResponse(StrictModel):
    tasks: list[TaskResponse]
    total_entries: int


def task_to_dict(task: Any, params: dict[str, Any]) -> dict[str, Any]:
    """A serialized task as a Task response; `params` are its DAG's (`params_json`)."""
    return {
        "class_ref": {"module_path": task.operator_module, "class_name": task.operator_name},
        "operator_name": task.custom_operator_name or task.operator_name,
        "task_id": task.task_id,
        "task_display_name": task.task_display_name,
        "owner": task.owner,
        "start_date": iso(task.start_date),
        "end_date": iso(task.end_date),
        "trigger_rule": task.trigger_rule,
        "extra_links": [],
        "depends_on_past": task.depends_on_past,
        "is_mapped": task.is_mapped,
        "wait_for_downstream": task.wait_for_downstream,
        "retries": task.retries,
        "queue": task.queue,
        "executor": None,
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "execution_timeout": timedelta_json(task.execution_timeout),
        "retry_delay": timedelta_json(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "priority_weight": task.own_priority_weight,
        "weight_rule": task.weight_rule,
        "ui_color": task.ui_color,
        "ui_fgcolor": task.ui_fgcolor,
        "template_fields": list(task.template_fields),
        "downstream_task_ids": sorted(task.downstream_task_ids),
        "params": params,
        "doc_md": task.doc_md,
    }


# -- source, statistics, warnings -----------------------------------------------------------------


class DagSourceResponse(StrictModel):
    content: str


class DagStatsStateResponse(StrictModel):
    state: str
    count: int


class DagStatsResponse(StrictModel):
    dag_id: str
    stats: list[DagStatsStateResponse] | None


class DagStatsCollectionResponse(StrictModel):
    dags: list[DagStatsResponse]
    total_entries: int


class DagWarningResponse(StrictModel):
    dag_id: str
    warning_type: str
    message: str
    timestamp: str


class DagWarningCollectionResponse(StrictModel):
    """The key is `dag_warnings` (the 2.10 client's bundled spec wrongly says `import_errors`)."""

    dag_warnings: list[DagWarningResponse]
    total_entries: int
