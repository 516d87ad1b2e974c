"""`DAG`: a named set of tasks with dependencies, a schedule and run-level settings.

Also owns the module-level "current DAG" stack behind `with DAG(...):` (operators built inside
the block attach to the innermost DAG) and the registry of DAGs created in such blocks, so a DAG
file that never assigns its DAG to a module global (the usual `@dag` style) still yields it.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aerovane.authoring._graph import find_cycle
from aerovane.authoring._sentinel import NOTSET, ArgNotSet
from aerovane.authoring._task_graph import TaskGraphView
from aerovane.authoring._time import coerce_optional_datetime
from aerovane.authoring.exceptions import (
    AerovaneDagCycleException,
    AerovaneDagError,
    DuplicateTaskIdFound,
    ParamValidationError,
)
from aerovane.authoring.params import DagParam, ParamsDict
from aerovane.authoring.task_group import TaskGroup
from aerovane.authoring.timetables import (
    NullTimetable,
    TimeRestriction,
    Timetable,
    time_restriction,
    timetable_from_schedule,
)

if TYPE_CHECKING:
    import jinja2

    from aerovane.authoring.baseoperator import BaseOperator

__all__ = [
    "DAG",
    "collect_autoregistered_dags",
    "current_dag",
    "validate_key",
]

KEY_MAX_LENGTH = 250
_KEY_RE = re.compile(r"[\w.-]+")
_SUFFIX_RE = re.compile(r"(.+)__(\d+)")

#: Innermost `with DAG(...)` last.
_dag_stack: list[DAG] = []
#: DAGs that were entered as context managers with auto_register=True, in creation order.
_autoregistered: dict[int, DAG] = {}

Callback = Callable[..., Any] | list[Callable[..., Any]]


def validate_key(key: object, what: str) -> str:
    """Check a dag_id / task_id against Airflow's rules (`^[\\w.-]+$`, at most 250 chars)."""
    if not isinstance(key, str):
        raise AerovaneDagError(f"The {what} must be a string, got {type(key).__name__}")
    if len(key) > KEY_MAX_LENGTH:
        raise AerovaneDagError(
            f"The {what} {key[:40]!r}... has to be less than {KEY_MAX_LENGTH} characters"
        )
    if not _KEY_RE.fullmatch(key):
        raise AerovaneDagError(
            f"The {what} {key!r} has to be made of alphanumeric characters, dashes, dots and "
            "underscores exclusively"
        )
    return key


def current_dag() -> DAG | None:
    """The DAG of the innermost active `with DAG(...)` block, if any."""
    return _dag_stack[-1] if _dag_stack else None


def collect_autoregistered_dags() -> list[DAG]:
    """Return and forget the DAGs auto-registered since the last call.

    DAG-file processing calls this before and after importing a file; together with the DAGs
    bound to module globals, that is the file's set of DAGs (Airflow's `auto_register`).
    """
    dags = list(_autoregistered.values())
    _autoregistered.clear()
    return dags


def _caller_file() -> str:
    """The file of the first frame outside the authoring package (and the airflow shim)."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (
            module.startswith("aerovane.authoring")
            or module == "airflow"
            or module.startswith("airflow.")
        ):
            return frame.f_code.co_filename
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def _settings() -> Any:
    from aerovane.config import get_settings

    return get_settings()


class DAG(TaskGraphView["BaseOperator"]):
    """A workflow: tasks, the edges between them, a schedule and run-level limits.

    Constructor arguments follow Airflow 2.10's `DAG`. Exactly one of `schedule`,
    `schedule_interval` (deprecated) and `timetable` (deprecated) may be given; with none the
    schedule is `timedelta(days=1)`, Airflow 2's default.
    """

    def __init__(
        self,
        dag_id: str,
        description: str | None = None,
        *,
        schedule: Any = NOTSET,
        schedule_interval: Any = NOTSET,
        timetable: Timetable | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        default_args: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        max_active_tasks: int | None = None,
        max_active_runs: int | None = None,
        concurrency: int | None = None,
        catchup: bool | None = None,
        tags: Collection[str] | None = None,
        doc_md: str | None = None,
        is_paused_upon_creation: bool | None = None,
        dagrun_timeout: timedelta | None = None,
        template_searchpath: str | Iterable[str] | None = None,
        template_undefined: type | None = None,
        user_defined_macros: Mapping[str, Any] | None = None,
        user_defined_filters: Mapping[str, Callable[..., Any]] | None = None,
        jinja_environment_kwargs: Mapping[str, Any] | None = None,
        render_template_as_native_obj: bool = False,
        on_success_callback: Callback | None = None,
        on_failure_callback: Callback | None = None,
        sla_miss_callback: Callable[..., Any] | None = None,
        access_control: Mapping[str, Any] | None = None,
        dag_display_name: str | None = None,
        owner_links: Mapping[str, str] | None = None,
        default_view: str = "grid",
        orientation: str = "LR",
        auto_register: bool = True,
    ) -> None:
        self.dag_id = validate_key(dag_id, "dag_id")
        self.description = description
        self.fileloc = _caller_file()
        self.default_args: dict[str, Any] = dict(default_args or {})

        self.params = ParamsDict(params)
        if "params" in self.default_args:
            self.params.update(self.default_args.pop("params") or {})

        given_start = start_date if start_date is not None else self.default_args.get("start_date")
        #: The timezone of the start date (Airflow's `dag.timezone`): cron schedules are
        #: evaluated in it. Dates themselves are kept in UTC.
        self.timezone = _timezone_of(given_start)
        self.timetable, self.schedule_interval = self._resolve_schedule(
            schedule, schedule_interval, timetable
        )
        self.start_date = coerce_optional_datetime(given_start, "start_date")
        self.end_date = coerce_optional_datetime(
            end_date if end_date is not None else self.default_args.get("end_date"),
            "end_date",
        )

        if concurrency is not None:
            warnings.warn(
                "The 'concurrency' DAG argument is deprecated; use 'max_active_tasks'.",
                DeprecationWarning,
                stacklevel=2,
            )
            if max_active_tasks is None:
                max_active_tasks = concurrency
        settings = None
        if max_active_tasks is None or max_active_runs is None or catchup is None:
            settings = _settings()
        self.max_active_tasks = (
            max_active_tasks
            if max_active_tasks is not None
            else settings.getint("core", "max_active_tasks_per_dag")
        )
        self.max_active_runs = (
            max_active_runs
            if max_active_runs is not None
            else settings.getint("core", "max_active_runs_per_dag")
        )
        self.catchup = (
            catchup
            if catchup is not None
            else settings.getboolean("scheduler", "catchup_by_default")
        )
        for name in ("max_active_tasks", "max_active_runs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AerovaneDagError(
                    f"DAG {self.dag_id}: {name} must be a positive integer, got {value!r}"
                )
        limit = self.timetable.active_runs_limit
        if limit is not None and self.max_active_runs > limit:
            raise AerovaneDagError(
                f"Invalid max_active_runs: {type(self.timetable).__name__} requires "
                f"max_active_runs <= {limit}"
            )

        if dagrun_timeout is not None and not isinstance(dagrun_timeout, timedelta):
            raise AerovaneDagError(
                f"DAG {self.dag_id}: dagrun_timeout must be a datetime.timedelta, "
                f"got {type(dagrun_timeout).__name__}"
            )
        self.dagrun_timeout = dagrun_timeout

        self.tags: list[str] = list(tags or [])
        for tag in self.tags:
            if not isinstance(tag, str) or len(tag) > 100:
                raise AerovaneDagError(
                    f"DAG {self.dag_id}: tag {tag!r} must be a string of at most 100 characters"
                )
        self.doc_md = self._load_doc_md(doc_md)
        self.is_paused_upon_creation = is_paused_upon_creation
        if isinstance(template_searchpath, str):
            template_searchpath = [template_searchpath]
        self.template_searchpath: list[str] | None = (
            list(template_searchpath) if template_searchpath is not None else None
        )
        self.template_undefined = template_undefined
        self.user_defined_macros = dict(user_defined_macros or {})
        self.user_defined_filters = dict(user_defined_filters or {})
        self.jinja_environment_kwargs = dict(jinja_environment_kwargs or {})
        self.render_template_as_native_obj = render_template_as_native_obj
        self.on_success_callback = on_success_callback
        self.on_failure_callback = on_failure_callback
        self.sla_miss_callback = sla_miss_callback
        self.access_control = dict(access_control) if access_control else None
        self.dag_display_name = dag_display_name or dag_id
        self.owner_links = dict(owner_links or {})
        self.default_view = default_view
        self.orientation = orientation
        self.auto_register = auto_register

        self.task_dict: dict[str, BaseOperator] = {}
        self._max_suffix: dict[str, int] = {}
        #: The root of the DAG's task groups (`group_id=None`); every task is in its subtree.
        self.task_group = TaskGroup.create_root(self)
        #: Edge labels: upstream task id → downstream task id → {"label": ...}.
        self.edge_info: dict[str, dict[str, dict[str, Any]]] = {}

    # -- construction helpers -----------------------------------------------------------------

    def _resolve_schedule(
        self, schedule: Any, schedule_interval: Any, timetable: Timetable | None
    ) -> tuple[Timetable, Any]:
        given = [
            name
            for name, value in (
                ("schedule", schedule),
                ("schedule_interval", schedule_interval),
                ("timetable", NOTSET if timetable is None else timetable),
            )
            if not isinstance(value, ArgNotSet)
        ]
        if len(given) > 1:
            raise AerovaneDagError(
                f"DAG {self.dag_id}: pass only one of {', '.join(given)}; "
                "'schedule' replaces the deprecated 'schedule_interval' and 'timetable'"
            )
        if not given:
            value: Any = timedelta(days=1)
        elif given[0] == "schedule":
            value = schedule
        else:
            warnings.warn(
                f"The '{given[0]}' DAG argument is deprecated; use 'schedule'.",
                DeprecationWarning,
                stacklevel=3,
            )
            value = schedule_interval if given[0] == "schedule_interval" else timetable
        tt = timetable_from_schedule(value, self.timezone)
        return tt, (tt.summary if isinstance(value, Timetable) else value)

    def _load_doc_md(self, doc_md: str | None) -> str | None:
        # Airflow reads `doc_md="README.md"` as a file; we also look beside the DAG file.
        if doc_md is None or not doc_md.endswith(".md"):
            return doc_md
        candidates = [doc_md]
        if not os.path.isabs(doc_md) and self.fileloc:
            candidates.append(os.path.join(self.folder, doc_md))
        for path in candidates:
            try:
                with open(path, encoding="utf-8") as handle:
                    return handle.read()
            except OSError:
                continue
        return doc_md

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> DAG:
        _dag_stack.append(self)
        if self.auto_register:
            _autoregistered[id(self)] = self
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _dag_stack.pop()
        if exc_type is None:
            # Edges cannot be removed, so a cycle found now is final; report it at the
            # `with` block rather than at serialization time.
            self.check_cycle()

    # -- tasks --------------------------------------------------------------------------------

    def add_task(self, task: BaseOperator) -> None:
        """Attach `task`; its dates are clamped to the DAG's (Airflow semantics)."""
        existing = self.task_dict.get(task.task_id)
        if existing is not None and existing is not task:
            raise DuplicateTaskIdFound(
                f"Task id {task.task_id!r} has already been added to the DAG {self.dag_id!r}"
            )
        if task.start_date is None:
            task.start_date = self.start_date
        elif self.start_date is not None:
            task.start_date = max(task.start_date, self.start_date)
        if task.end_date is None:
            task.end_date = self.end_date
        elif self.end_date is not None:
            task.end_date = min(task.end_date, self.end_date)
        self.task_dict[task.task_id] = task
        (task.task_group or self.task_group).add(task)
        match = _SUFFIX_RE.fullmatch(task.task_id)
        if match is not None:
            core, number = match.group(1), int(match.group(2))
            if number > self._max_suffix.get(core, 0):
                self._max_suffix[core] = number
        if task._dag is not self:
            task._dag = self

    def add_tasks(self, tasks: Iterable[BaseOperator]) -> None:
        for task in tasks:
            self.add_task(task)

    def unique_task_id(self, task_id: str, task_group: TaskGroup | None = None) -> str:
        """`task_id`, or `core__N` with the next free N when taken (TaskFlow re-use); the
        check uses the id the task gets in `task_group` (its prefix), the result has none."""
        full = task_group.child_id(task_id) if task_group is not None else task_id
        if full not in self.task_dict:
            return task_id
        match = _SUFFIX_RE.fullmatch(full)
        full_core = match.group(1) if match else full
        match = _SUFFIX_RE.fullmatch(task_id)
        core = match.group(1) if match else task_id
        return f"{core}__{self._max_suffix.get(full_core, 0) + 1}"

    def set_edge_info(self, upstream_task_id: str, downstream_task_id: str, info: dict) -> None:
        self.edge_info.setdefault(upstream_task_id, {})[downstream_task_id] = info

    def get_edge_info(self, upstream_task_id: str, downstream_task_id: str) -> dict[str, Any]:
        return self.edge_info.get(upstream_task_id, {}).get(downstream_task_id, {})

    @property
    def task_group_dict(self) -> dict[str | None, TaskGroup]:
        """Every task group by full group id (the root group under None)."""
        return self.task_group.get_task_group_dict()

    @property
    def owner(self) -> str:
        """Distinct task owners, comma-joined in task order (DagModel.owners)."""
        return ", ".join(dict.fromkeys(t.owner for t in self.task_dict.values()))

    @property
    def folder(self) -> str:
        return os.path.dirname(self.fileloc)

    @property
    def task_count(self) -> int:
        return len(self.task_dict)

    # -- validation ---------------------------------------------------------------------------

    def check_cycle(self) -> None:
        """Raise AerovaneDagError naming a cycle, if the task graph has one."""
        task_dict = self.task_dict
        cycle = find_cycle(task_dict, lambda tid: task_dict[tid].downstream_task_ids)
        if cycle is not None:
            raise AerovaneDagCycleException(
                f"Cycle detected in DAG: {self.dag_id}. Faulty task: {cycle[0]} "
                f"(cycle: {' -> '.join(cycle)})"
            )

    def validate(self) -> None:
        """Everything checked before a DAG is accepted: cycles, param defaults, schedule."""
        self.check_cycle()
        try:
            self.params.validate_defaults()
        except ParamValidationError as err:
            raise ParamValidationError(f"DAG {self.dag_id}: {err}") from None
        if not isinstance(self.timetable, NullTimetable):
            for name, param in self.params.items_params():
                allows_null = "null" in _as_list(param.schema.get("type"))
                if not param.has_value and not allows_null:
                    raise AerovaneDagError(
                        f"DAG {self.dag_id}: param {name!r} has no default value, so the DAG "
                        "can only be triggered manually; set schedule=None (DAG Schedule must "
                        "be None, if there are any required params without default values)"
                    )

    # -- scheduling ---------------------------------------------------------------------------

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

    # -- templating / TaskFlow ----------------------------------------------------------------

    def get_template_env(self) -> jinja2.Environment:
        from aerovane.authoring.templating import build_jinja_env

        return build_jinja_env(self)

    def param(self, name: str, default: Any = NOTSET) -> DagParam:
        """A placeholder for param `name` (registering `default` as its default when given)."""
        return DagParam(self, name, default)

    # -- running ------------------------------------------------------------------------------

    def test(
        self,
        execution_date: datetime | None = None,
        run_conf: dict[str, Any] | None = None,
        *,
        logical_date: datetime | None = None,
    ) -> Any:
        """Run this DAG once in this process (the `if __name__ == "__main__": dag.test()` idiom).

        Creates only its own run, runs each task here in dependency order and prints each
        task's log as it happens; other runs and the pause flag are never touched. Delegates
        to the task runtime, as Airflow 3's Task SDK hands running to its supervisor.
        """
        from aerovane.runtime.dag_test import run_dag_test

        return run_dag_test(self, logical_date=logical_date or execution_date, conf=run_conf)

    def __repr__(self) -> str:
        return f"<DAG: {self.dag_id}>"


def _timezone_of(start_date: object) -> Any:
    """The start date's timezone as pendulum has it, else UTC (`[core] default_timezone`)."""
    import pendulum

    tz = getattr(start_date, "tzinfo", None) if isinstance(start_date, datetime) else None
    if tz is None:
        return pendulum.UTC
    if isinstance(tz, (pendulum.Timezone, pendulum.FixedTimezone)):
        return tz
    from aerovane.authoring.timezone import parse_timezone, timezone_name

    return parse_timezone(timezone_name(tz))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
