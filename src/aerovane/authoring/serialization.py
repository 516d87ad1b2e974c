"""A DAG as JSON-safe data, and the read-only `SerializedDAG` rebuilt from it.

`serialize_dag` validates the DAG and records everything the scheduler and API need without
importing user code: DAG settings, the timetable, params, and per task the scheduling-relevant
arguments, the edges and the *effective* priority weight. `SerializedDAG.from_dict` turns the
stored dict back into attribute access; `dag_hash` tells whether a re-parsed DAG changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from aerovane.authoring._task_graph import TaskGraphView
from aerovane.authoring._time import dt_from_iso, dt_to_iso, td_from_seconds, td_to_seconds
from aerovane.authoring.datasets import Dataset, outlet_aliases, outlet_datasets
from aerovane.authoring.params import ParamsDict
from aerovane.authoring.priority import effective_priority_weights
from aerovane.authoring.priority_strategy import (
    PriorityWeightStrategy,
    strategy_from_dict,
    strategy_to_dict,
)
from aerovane.authoring.task_group import SerializedTaskGroup, serialize_task_group
from aerovane.authoring.timetables import (
    DatasetTriggeredTimetable,
    TimeRestriction,
    Timetable,
    time_restriction,
    timetable_from_dict,
    timetable_to_dict,
)
from aerovane.authoring.timezone import timezone_name

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator
    from aerovane.authoring.dag import DAG

__all__ = ["SERIALIZATION_VERSION", "SerializedDAG", "SerializedTask", "dag_hash", "serialize_dag"]

SERIALIZATION_VERSION = 1

_CALLBACKS = (
    "on_execute_callback",
    "on_success_callback",
    "on_failure_callback",
    "on_retry_callback",
    "on_skipped_callback",
)


def _json_safe(value: Any) -> Any:
    """`value` with anything JSON cannot hold converted (dates → ISO, sets → lists, ...)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Enum):
        return _json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_json_safe(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return dt_to_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def _is_empty(task: BaseOperator) -> bool:
    # Airflow's rule: the scheduler can finish an EmptyOperator itself unless something would
    # observe it running (execute/success callbacks) or it produces outlets.
    return (
        task.inherits_from_empty_operator
        and not task.on_execute_callback
        and not task.on_success_callback
        and not task.outlets
    )


def _dataset_dict(dataset: Dataset) -> dict[str, Any]:
    return {"uri": dataset.uri, "extra": _json_safe(dict(dataset.extra or {}))}


def _serialize_task(task: BaseOperator, weight: int) -> dict[str, Any]:
    cls = type(task)
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "operator_name": cls.__name__,
        "operator_module": cls.__module__,
        "custom_operator_name": cls.custom_operator_name,
        "task_display_name": task.task_display_name,
        "trigger_rule": str(task.trigger_rule),
        "upstream_task_ids": sorted(task.upstream_task_ids),
        "downstream_task_ids": sorted(task.downstream_task_ids),
        "retries": task.retries,
        "retry_delay": td_to_seconds(task.retry_delay),
        "retry_exponential_backoff": bool(task.retry_exponential_backoff),
        "max_retry_delay": td_to_seconds(task.max_retry_delay),
        "execution_timeout": td_to_seconds(task.execution_timeout),
        "sla": td_to_seconds(task.sla),
        "email": [task.email] if isinstance(task.email, str) else list(task.email or []),
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "priority_weight": weight,
        "own_priority_weight": task.priority_weight,
        "weight_rule": str(task.weight_rule),
        "weight_strategy": (
            strategy_to_dict(task.weight_rule)
            if isinstance(task.weight_rule, PriorityWeightStrategy)
            else None
        ),
        "queue": task.queue,
        "owner": task.owner,
        "is_empty": _is_empty(task),
        "ui_color": cls.ui_color,
        "ui_fgcolor": cls.ui_fgcolor,
        "template_fields": list(cls.template_fields),
        "doc_md": task.doc_md,
        "executor_config": _json_safe(task.executor_config),
        "start_date": dt_to_iso(task.start_date),
        "end_date": dt_to_iso(task.end_date),
        "depends_on_past": bool(task.depends_on_past),
        "wait_for_downstream": bool(task.wait_for_downstream),
        "max_active_tis_per_dag": task.max_active_tis_per_dag,
        "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
        "do_xcom_push": bool(task.do_xcom_push),
        "multiple_outputs": bool(task.multiple_outputs),
        "outlets": [_dataset_dict(d) for d in outlet_datasets(task.outlets)],
        "inlets": [_dataset_dict(d) for d in outlet_datasets(task.inlets)],
        "outlet_aliases": [a.name for a in outlet_aliases(task.outlets)],
    }
    for name in _CALLBACKS:
        data[f"has_{name}"] = bool(getattr(task, name))
    # Setup/teardown flags only when set, as Airflow serializes them.
    if task.is_setup:
        data["is_setup"] = True
    if task.is_teardown:
        data["is_teardown"] = True
    if task.on_failure_fail_dagrun:
        data["on_failure_fail_dagrun"] = True
    # Operator arguments the server acts on (e.g. ExternalTaskMarker's target), unrendered.
    extra = {name: _json_safe(getattr(task, name)) for name in cls.serialized_extra_fields}
    if extra:
        data["extra_fields"] = extra
    if task.expand_input is not None:
        data["expand_input"] = _json_safe(task.expand_input)
    return data


def serialize_dag(dag: DAG) -> dict[str, Any]:
    """`dag` as a JSON-safe dict (validating it first: cycles, params, schedule)."""
    dag.validate()
    weights = effective_priority_weights(dag.task_dict)
    timetable = dag.timetable
    tasks = [_serialize_task(task, weights[task.task_id]) for task in dag.task_dict.values()]
    return {
        "__version": SERIALIZATION_VERSION,
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "tags": list(dag.tags),
        "owners": list(dict.fromkeys(t.owner for t in dag.task_dict.values())),
        "timetable": timetable_to_dict(timetable),
        "schedule_interval": timetable.schedule_interval_json(),
        "timetable_summary": timetable.summary,
        "timetable_description": timetable.description,
        "timezone": timezone_name(dag.timezone),
        "start_date": dt_to_iso(dag.start_date),
        "end_date": dt_to_iso(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "is_paused_upon_creation": dag.is_paused_upon_creation,
        "params": _json_safe(dag.params.serialize()),
        "dagrun_timeout": td_to_seconds(dag.dagrun_timeout),
        "has_task_concurrency_limits": any(
            t["max_active_tis_per_dag"] is not None or t["max_active_tis_per_dagrun"] is not None
            for t in tasks
        ),
        "has_on_success_callback": bool(dag.on_success_callback),
        "has_on_failure_callback": bool(dag.on_failure_callback),
        "has_sla_miss_callback": bool(dag.sla_miss_callback),
        "render_template_as_native_obj": dag.render_template_as_native_obj,
        "template_searchpath": dag.template_searchpath,
        "default_view": dag.default_view,
        "orientation": dag.orientation,
        "access_control": _json_safe(dag.access_control),
        "dag_display_name": dag.dag_display_name,
        "owner_links": _json_safe(dag.owner_links),
        "dataset_expression": (
            timetable.condition.as_expression()
            if isinstance(timetable, DatasetTriggeredTimetable)
            else None
        ),
        "tasks": tasks,
        "task_group": serialize_task_group(dag.task_group),
        "edge_info": _json_safe(dag.edge_info),
    }


def dag_hash(data: Mapping[str, Any]) -> str:
    """A stable fingerprint of a serialized DAG (key order does not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.md5(canonical.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class SerializedTask:
    """A task as the scheduler and API see it: settings and edges, no user code."""

    task_id: str
    operator_name: str
    operator_module: str
    custom_operator_name: str | None
    task_display_name: str
    trigger_rule: str
    upstream_task_ids: frozenset[str]
    downstream_task_ids: frozenset[str]
    retries: int
    retry_delay: timedelta
    retry_exponential_backoff: bool
    max_retry_delay: timedelta | None
    execution_timeout: timedelta | None
    pool: str
    pool_slots: int
    priority_weight: int
    own_priority_weight: int
    weight_rule: str
    queue: str
    owner: str
    is_empty: bool
    ui_color: str
    ui_fgcolor: str
    template_fields: tuple[str, ...]
    doc_md: str | None
    executor_config: dict[str, Any]
    start_date: datetime | None
    end_date: datetime | None
    depends_on_past: bool
    wait_for_downstream: bool
    max_active_tis_per_dag: int | None
    max_active_tis_per_dagrun: int | None
    do_xcom_push: bool
    multiple_outputs: bool
    has_on_execute_callback: bool
    has_on_success_callback: bool
    has_on_failure_callback: bool
    has_on_retry_callback: bool
    has_on_skipped_callback: bool
    outlets: tuple[str, ...] = ()
    inlets: tuple[str, ...] = ()
    outlet_aliases: tuple[str, ...] = ()
    weight_strategy: dict[str, Any] | None = None

    def priority_weight_for(self, ti: Any) -> int:
        """The weight of a new task instance: the DAG's computed weight, or the strategy's."""
        if self.weight_strategy is None:
            return self.priority_weight
        from aerovane.authoring.priority import PRIORITY_WEIGHT_MAX, PRIORITY_WEIGHT_MIN

        ti.task = self
        weight = int(strategy_from_dict(self.weight_strategy).get_weight(ti))
        return max(PRIORITY_WEIGHT_MIN, min(PRIORITY_WEIGHT_MAX, weight))

    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False
    #: The operator's `serialized_extra_fields`, as written (templates unrendered).
    extra_fields: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    #: What a mapped task maps over (`authoring/mapping.py`); None for an ordinary task.
    expand_input: dict[str, Any] | None = None

    @property
    def task_type(self) -> str:
        return self.operator_name

    @property
    def is_mapped(self) -> bool:
        return self.expand_input is not None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SerializedTask:
        return cls(
            task_id=data["task_id"],
            operator_name=data["operator_name"],
            operator_module=data.get("operator_module", ""),
            custom_operator_name=data.get("custom_operator_name"),
            task_display_name=data.get("task_display_name") or data["task_id"],
            trigger_rule=data.get("trigger_rule", "all_success"),
            upstream_task_ids=frozenset(data.get("upstream_task_ids", ())),
            downstream_task_ids=frozenset(data.get("downstream_task_ids", ())),
            retries=data.get("retries", 0),
            retry_delay=td_from_seconds(data.get("retry_delay", 300.0)) or timedelta(0),
            retry_exponential_backoff=data.get("retry_exponential_backoff", False),
            max_retry_delay=td_from_seconds(data.get("max_retry_delay")),
            execution_timeout=td_from_seconds(data.get("execution_timeout")),
            pool=data.get("pool", "default_pool"),
            pool_slots=data.get("pool_slots", 1),
            priority_weight=data.get("priority_weight", 1),
            own_priority_weight=data.get("own_priority_weight", data.get("priority_weight", 1)),
            weight_rule=data.get("weight_rule", "downstream"),
            queue=data.get("queue", "default"),
            owner=data.get("owner", "airflow"),
            is_empty=data.get("is_empty", False),
            ui_color=data.get("ui_color", "#fff"),
            ui_fgcolor=data.get("ui_fgcolor", "#000"),
            template_fields=tuple(data.get("template_fields", ())),
            doc_md=data.get("doc_md"),
            executor_config=dict(data.get("executor_config") or {}),
            start_date=dt_from_iso(data.get("start_date")),
            end_date=dt_from_iso(data.get("end_date")),
            depends_on_past=data.get("depends_on_past", False),
            wait_for_downstream=data.get("wait_for_downstream", False),
            max_active_tis_per_dag=data.get("max_active_tis_per_dag"),
            max_active_tis_per_dagrun=data.get("max_active_tis_per_dagrun"),
            do_xcom_push=data.get("do_xcom_push", True),
            multiple_outputs=data.get("multiple_outputs", False),
            has_on_execute_callback=data.get("has_on_execute_callback", False),
            has_on_success_callback=data.get("has_on_success_callback", False),
            has_on_failure_callback=data.get("has_on_failure_callback", False),
            has_on_retry_callback=data.get("has_on_retry_callback", False),
            has_on_skipped_callback=data.get("has_on_skipped_callback", False),
            outlets=tuple(d["uri"] for d in data.get("outlets", ())),
            inlets=tuple(d["uri"] for d in data.get("inlets", ())),
            outlet_aliases=tuple(data.get("outlet_aliases", ())),
            weight_strategy=data.get("weight_strategy"),
            is_setup=data.get("is_setup", False),
            is_teardown=data.get("is_teardown", False),
            on_failure_fail_dagrun=data.get("on_failure_fail_dagrun", False),
            extra_fields=data.get("extra_fields"),
            expand_input=data.get("expand_input"),
        )


class SerializedDAG(TaskGraphView[SerializedTask]):
    """Read-only view of a serialized DAG, for code that must not import user DAG files."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data: Mapping[str, Any] = data
        self.dag_id: str = data["dag_id"]
        self.fileloc: str = data.get("fileloc", "")
        self.description: str | None = data.get("description")
        self.doc_md: str | None = data.get("doc_md")
        self.tags: list[str] = list(data.get("tags", ()))
        self.owners: list[str] = list(data.get("owners", ()))
        self.timetable: Timetable = timetable_from_dict(data.get("timetable") or {"__type": "null"})
        #: The DAG's timezone name (from its start date), as `str(dag.timezone)` in Airflow.
        self.timezone: str = data.get("timezone", "UTC")
        self.start_date: datetime | None = dt_from_iso(data.get("start_date"))
        self.end_date: datetime | None = dt_from_iso(data.get("end_date"))
        self.catchup: bool = data.get("catchup", True)
        self.max_active_runs: int = data.get("max_active_runs", 16)
        self.max_active_tasks: int = data.get("max_active_tasks", 16)
        self.is_paused_upon_creation: bool | None = data.get("is_paused_upon_creation")
        self.params: ParamsDict = ParamsDict.deserialize(data.get("params"))
        self.dagrun_timeout: timedelta | None = td_from_seconds(data.get("dagrun_timeout"))
        self.has_task_concurrency_limits: bool = data.get("has_task_concurrency_limits", False)
        self.has_on_success_callback: bool = data.get("has_on_success_callback", False)
        self.has_on_failure_callback: bool = data.get("has_on_failure_callback", False)
        self.render_template_as_native_obj: bool = data.get("render_template_as_native_obj", False)
        self.template_searchpath: list[str] | None = data.get("template_searchpath")
        self.default_view: str = data.get("default_view", "grid")
        self.orientation: str = data.get("orientation", "LR")
        self.access_control: dict[str, Any] | None = data.get("access_control")
        self.dag_display_name: str = data.get("dag_display_name") or self.dag_id
        self.dataset_expression: Any = data.get("dataset_expression")
        self.owner_links: dict[str, str] = dict(data.get("owner_links") or {})
        self.edge_info: dict[str, dict[str, dict[str, Any]]] = dict(data.get("edge_info") or {})
        self.task_dict: dict[str, SerializedTask] = {
            t["task_id"]: SerializedTask.from_dict(t) for t in data.get("tasks", ())
        }
        self.task_group = SerializedTaskGroup(
            data.get("task_group") or {"_group_id": None, "children": {}}
        )
        self._hash: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SerializedDAG:
        return cls(data)

    @property
    def schedule_interval(self) -> dict[str, Any] | None:
        return self.timetable.schedule_interval_json()

    @property
    def timetable_summary(self) -> str:
        return self.timetable.summary

    @property
    def timetable_description(self) -> str:
        return self.timetable.description

    @property
    def owner(self) -> str:
        return ", ".join(self.owners)

    @property
    def time_restriction(self) -> TimeRestriction:
        tasks = self.task_dict.values()
        return time_restriction(
            start_date=self.start_date,
            end_date=self.end_date,
            catchup=self.catchup,
            task_start_dates=(t.start_date for t in tasks),
            task_end_dates=(t.end_date for t in tasks),
            task_count=len(self.task_dict),
        )

    @property
    def dag_hash(self) -> str:
        if self._hash is None:
            self._hash = dag_hash(self.data)
        return self._hash

    def __repr__(self) -> str:
        return f"<SerializedDAG: {self.dag_id}>"
