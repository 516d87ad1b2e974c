"""The template/execute context: the dict a task's templates and `execute(context)` receive.

`build_context` assembles it from what the engine hands over (the DAG, the task, the engine's
task-instance and dag-run objects) using Airflow 2's key names. Expensive entries (variables,
connections) are lazy accessor objects, so building a context never touches the database.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aerovane.authoring._time import as_utc, utcnow

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator
    from aerovane.authoring.dag import DAG

__all__ = [
    "KNOWN_CONTEXT_KEYS",
    "Context",
    "build_context",
    "context_to_airflow_vars",
    "get_current_context",
    "resolve_params",
    "set_current_context",
]

#: Keys `build_context` provides (plus "exception" in failure callbacks); TaskFlow functions
#: receive these by naming a parameter after them.
KNOWN_CONTEXT_KEYS: frozenset[str] = frozenset(
    {
        "conf",
        "conn",
        "dag",
        "dag_run",
        "data_interval_end",
        "data_interval_start",
        "ds",
        "ds_nodash",
        "exception",
        "execution_date",
        "expanded_ti_count",
        "inlet_events",
        "inlets",
        "logical_date",
        "macros",
        "map_index_template",
        "outlet_events",
        "next_ds",
        "next_ds_nodash",
        "next_execution_date",
        "outlets",
        "params",
        "prev_data_interval_end_success",
        "prev_data_interval_start_success",
        "prev_ds",
        "prev_ds_nodash",
        "prev_end_date_success",
        "prev_execution_date",
        "prev_execution_date_success",
        "prev_start_date_success",
        "run_id",
        "task",
        "task_instance",
        "task_instance_key_str",
        "templates_dict",
        "test_mode",
        "ti",
        "triggering_dataset_events",
        "tomorrow_ds",
        "tomorrow_ds_nodash",
        "try_number",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "var",
        "yesterday_ds",
        "yesterday_ds_nodash",
    }
)


class Context(dict[str, Any]):
    """A task run's context: a plain dict (with a distinct type for annotations)."""

    __slots__ = ()


_CURRENT_CONTEXT: list[Mapping[str, Any]] = []


@contextlib.contextmanager
def set_current_context(context: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Make `context` what `get_current_context()` returns while a task executes."""
    _CURRENT_CONTEXT.append(context)
    try:
        yield context
    finally:
        _CURRENT_CONTEXT.pop()


def get_current_context() -> Mapping[str, Any]:
    """The running task's context, for code deep inside a task that was not handed it."""
    if not _CURRENT_CONTEXT:
        from aerovane.authoring.exceptions import AerovaneException

        raise AerovaneException(
            "Current context was requested but no context was found! "
            "Are you running within an Airflow task?"
        )
    return _CURRENT_CONTEXT[-1]


def resolve_params(
    dag: DAG | None, task: BaseOperator | None, conf: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A run's params: DAG params < task params < the run's conf, validated."""
    from aerovane.authoring.params import ParamsDict

    params = dag.params if dag is not None else ParamsDict()
    if task is not None and task.params:
        params = params.merged(task.params)
    return params.resolve(conf)


def build_context(
    *,
    dag: DAG,
    task: BaseOperator,
    ti: Any,
    dag_run: Any,
    params: Mapping[str, Any] | None = None,
    previous_success: Any = None,
) -> Context:
    """The context for one task attempt.

    `dag_run` needs `logical_date`, `run_id`, `conf` and (optionally) `data_interval_start/end`,
    `external_trigger`; `ti` is the engine's task instance (`xcom_pull`, `skip_tasks`,
    `try_number`, ...); `previous_success` is the DAG's latest successful run before this one
    (or None), for the `prev_*_success` keys. When `params` is None they are resolved from the
    DAG, the task and `dag_run.conf`. Dates are pendulum DateTimes in UTC, as in Airflow.
    """
    from aerovane.authoring.datasets import (
        InletEventsAccessors,
        OutletEventAccessors,
        TriggeringDatasetEvents,
    )
    from aerovane.authoring.variables import ConnectionAccessor, VariablesNamespace
    from aerovane.config import get_settings

    logical_date = _pendulum(getattr(dag_run, "logical_date", None)) or _pendulum(utcnow())
    interval_start = _pendulum(getattr(dag_run, "data_interval_start", None)) or logical_date
    interval_end = _pendulum(getattr(dag_run, "data_interval_end", None)) or logical_date
    ds = logical_date.strftime("%Y-%m-%d")
    ds_nodash = ds.replace("-", "")
    ts = logical_date.isoformat()
    yesterday_ds = (logical_date - timedelta(1)).strftime("%Y-%m-%d")
    tomorrow_ds = (logical_date + timedelta(1)).strftime("%Y-%m-%d")
    prev_date, next_date = _neighbour_schedules(dag, dag_run, logical_date)
    prev_ds = prev_date.strftime("%Y-%m-%d") if prev_date is not None else None
    next_ds = next_date.strftime("%Y-%m-%d") if next_date is not None else None
    if params is None:
        params = resolve_params(dag, task, getattr(dag_run, "conf", None))
    return Context(
        conf=get_settings(),
        conn=ConnectionAccessor(),
        dag=dag,
        dag_run=dag_run,
        data_interval_end=interval_end,
        data_interval_start=interval_start,
        ds=ds,
        ds_nodash=ds_nodash,
        execution_date=logical_date,
        expanded_ti_count=None,
        inlet_events=InletEventsAccessors(task.inlets, None),  # the runtime gives a reader
        inlets=list(task.inlets),
        logical_date=logical_date,
        macros=importlib.import_module("aerovane.authoring.macros"),
        map_index_template=getattr(task, "map_index_template", None),
        outlet_events=OutletEventAccessors(),
        next_ds=next_ds,
        next_ds_nodash=next_ds.replace("-", "") if next_ds is not None else None,
        next_execution_date=next_date,
        outlets=list(task.outlets),
        params=dict(params),
        prev_data_interval_start_success=_success(previous_success, "data_interval_start"),
        prev_data_interval_end_success=_success(previous_success, "data_interval_end"),
        prev_ds=prev_ds,
        prev_ds_nodash=prev_ds.replace("-", "") if prev_ds is not None else None,
        prev_end_date_success=_success(previous_success, "end_date"),
        prev_execution_date=prev_date,
        prev_execution_date_success=_success(previous_success, "logical_date"),
        prev_start_date_success=_success(previous_success, "start_date"),
        run_id=getattr(dag_run, "run_id", None),
        task=task,
        task_instance=ti,
        task_instance_key_str=f"{dag.dag_id}__{task.task_id}__{ds_nodash}",
        templates_dict=None,
        test_mode=bool(getattr(ti, "test_mode", False)),
        ti=ti,
        triggering_dataset_events=TriggeringDatasetEvents(None),
        tomorrow_ds=tomorrow_ds,
        tomorrow_ds_nodash=tomorrow_ds.replace("-", ""),
        try_number=getattr(ti, "try_number", None),
        ts=ts,
        ts_nodash=logical_date.strftime("%Y%m%dT%H%M%S"),
        ts_nodash_with_tz=ts.replace("-", "").replace(":", ""),
        var=VariablesNamespace(),
        yesterday_ds=yesterday_ds,
        yesterday_ds_nodash=yesterday_ds.replace("-", ""),
    )


def _pendulum(value: datetime | None) -> Any:
    """`value` as a pendulum DateTime in UTC (naive input is UTC)."""
    if value is None:
        return None
    from aerovane.authoring.timezone import convert_to_utc

    return convert_to_utc(as_utc(value))


def _success(run: Any, attr: str) -> Any:
    return None if run is None else _pendulum(getattr(run, attr, None))


def _neighbour_schedules(dag: DAG, dag_run: Any, logical_date: Any) -> tuple[Any, Any]:
    """Airflow's deprecated `prev_execution_date`/`next_execution_date`: the schedule's ticks
    around a scheduled run; the run's own logical date for a manually triggered run."""
    from aerovane.authoring.timetables import _DataIntervalTimetable

    if getattr(dag_run, "external_trigger", False):
        return logical_date, logical_date
    timetable = getattr(dag, "timetable", None)
    if not isinstance(timetable, _DataIntervalTimetable):
        return None, None
    return _pendulum(timetable._get_prev(logical_date)), _pendulum(
        timetable._get_next(logical_date)
    )


def context_to_airflow_vars(
    context: Mapping[str, Any], in_env_var_format: bool = False
) -> dict[str, str]:
    """The AIRFLOW_CTX_* values (or `airflow.ctx.*` names) describing this run, as strings.

    BashOperator exports them to its subprocess, as Airflow does, so scripts can tell which
    DAG/task/run they belong to.
    """
    task = context.get("task")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    ti = context.get("ti")
    logical_date = context.get("logical_date")
    values: list[tuple[str, Any]] = []
    if task is not None:
        email = task.email
        if email:
            values.append(("dag_email", email if isinstance(email, str) else ",".join(email)))
        owner = task.owner
        if owner:
            values.append(("dag_owner", owner if isinstance(owner, str) else ",".join(owner)))
    if dag is not None:
        values.append(("dag_id", dag.dag_id))
    if task is not None:
        values.append(("task_id", task.task_id))
    if logical_date is not None:
        values.append(("execution_date", logical_date.isoformat()))
    try_number = getattr(ti, "try_number", None)
    if try_number is not None:
        values.append(("try_number", str(try_number)))
    run_id = getattr(dag_run, "run_id", None)
    if run_id is not None:
        values.append(("dag_run_id", run_id))
    if in_env_var_format:
        return {f"AIRFLOW_CTX_{name.upper()}": str(value) for name, value in values}
    return {f"airflow.ctx.{name}": str(value) for name, value in values}
