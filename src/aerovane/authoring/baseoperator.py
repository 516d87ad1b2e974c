"""`BaseOperator`: the unit of work in a DAG, with Airflow 2's arguments and behaviour.

Owns per-task settings (retries, pool, trigger rule, ...), dependency edges (`>>`, `<<`,
`set_upstream`, ...), template rendering of the fields a subclass lists in `template_fields`,
and the helpers tasks use at run time (`log`, `skip`). Subclasses implement `execute(context)`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from aerovane.authoring._defaults import BaseOperatorMeta
from aerovane.authoring._time import coerce_optional_datetime
from aerovane.authoring.dag import DAG, validate_key
from aerovane.authoring.dependencies import DependencyMixin, Relatives, chain, cross_downstream
from aerovane.authoring.edge_labels import EdgeModifier
from aerovane.authoring.exceptions import (
    AerovaneDagError,
    AerovaneException,
    TaskDeferralError,
    TaskDeferred,
)
from aerovane.authoring.params import ParamsDict
from aerovane.authoring.priority_strategy import PriorityWeightStrategy, coerce_weight_rule
from aerovane.authoring.task_group import TaskGroup
from aerovane.authoring.trigger_rule import TriggerRule
from aerovane.authoring.weight_rule import WeightRule
from aerovane.authoring.xcom_arg import XCOM_RETURN_KEY, XComArg, iter_xcom_args

if TYPE_CHECKING:
    import jinja2

    from aerovane.authoring.mapping import OperatorPartial

__all__ = ["BaseOperator", "chain", "cross_downstream"]

Callback = Callable[..., Any] | list[Callable[..., Any]]
_SCALARS = (str, int, float, bool, bytes, datetime, timedelta)


def _default_retries() -> int:
    from aerovane.config import get_settings

    return get_settings().getint("core", "default_task_retries")


def _default_queue() -> str:
    from aerovane.config import get_settings

    return get_settings().getstr("operators", "default_queue")


def _as_timedelta(
    value: timedelta | float | int | None, what: str, task_id: str
) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise AerovaneDagError(
        f"Task {task_id!r}: {what} must be a datetime.timedelta or a number of seconds, "
        f"got {type(value).__name__}"
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class BaseOperator(DependencyMixin, metaclass=BaseOperatorMeta):
    """Base of all operators; see Airflow's `BaseOperator` for the meaning of each argument.

    Arguments not given explicitly are taken from the DAG's `default_args` (then the
    operator's own `default_args=`), as Airflow's `apply_defaults` does.
    """

    #: Attribute names rendered with Jinja before `execute` runs.
    template_fields: ClassVar[Sequence[str]] = ()
    #: A templated string ending in one of these is the name of a template *file*.
    template_ext: ClassVar[Sequence[str]] = ()
    template_fields_renderers: ClassVar[dict[str, str]] = {}
    ui_color: ClassVar[str] = "#fff"
    ui_fgcolor: ClassVar[str] = "#000"
    #: Shown instead of the class name where Airflow shows one (e.g. "@task").
    custom_operator_name: ClassVar[str | None] = None
    #: True for EmptyOperator and subclasses: the scheduler may finish them without running.
    inherits_from_empty_operator: ClassVar[bool] = False
    #: The group the task was built in (set while constructing; the DAG's root group if none).
    task_group: TaskGroup | None = None
    _is_setup: bool = False
    _is_teardown: bool = False
    _on_failure_fail_dagrun: bool = False
    #: Attributes written to the serialized DAG for the server to act on (unrendered).
    serialized_extra_fields: ClassVar[tuple[str, ...]] = ()
    #: Set by `.partial(...).expand(...)`: what the task maps over (see `authoring/mapping.py`).
    expand_input: dict[str, Any] | None = None
    #: The `.map()` functions the expand input refers to by index (never serialized).
    expand_callables: Sequence[Callable[[Any], Any]] = ()
    #: Mapped because it is in a mapped task group: its in-group inputs are per map index.
    mapped_by_group: bool = False

    def __init__(
        self,
        *,
        task_id: str,
        owner: str = "airflow",
        email: str | Iterable[str] | None = None,
        email_on_retry: bool = True,
        email_on_failure: bool = True,
        retries: int | None = None,
        retry_delay: timedelta | float = timedelta(seconds=300),
        retry_exponential_backoff: bool = False,
        max_retry_delay: timedelta | float | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        depends_on_past: bool = False,
        wait_for_downstream: bool = False,
        dag: DAG | None = None,
        params: Mapping[str, Any] | None = None,
        priority_weight: int = 1,
        weight_rule: str | PriorityWeightStrategy = WeightRule.DOWNSTREAM,
        queue: str | None = None,
        pool: str | None = None,
        pool_slots: int = 1,
        sla: timedelta | None = None,
        execution_timeout: timedelta | None = None,
        on_execute_callback: Callback | None = None,
        on_failure_callback: Callback | None = None,
        on_success_callback: Callback | None = None,
        on_retry_callback: Callback | None = None,
        on_skipped_callback: Callback | None = None,
        pre_execute: Callable[[Any], Any] | None = None,
        post_execute: Callable[[Any, Any], Any] | None = None,
        trigger_rule: str = TriggerRule.ALL_SUCCESS,
        max_active_tis_per_dag: int | None = None,
        max_active_tis_per_dagrun: int | None = None,
        task_concurrency: int | None = None,
        executor_config: dict[str, Any] | None = None,
        do_xcom_push: bool = True,
        multiple_outputs: bool = False,
        inlets: Any | None = None,
        outlets: Any | None = None,
        doc: str | None = None,
        doc_md: str | None = None,
        task_display_name: str | None = None,
        map_index_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.task_id = validate_key(task_id, "task_id")
        if kwargs:
            raise AerovaneException(
                f"Invalid arguments were passed to {type(self).__name__} (task_id: {task_id}). "
                f"Invalid arguments were:\n**kwargs: {kwargs}"
            )
        self.owner = owner
        self.email = email
        self.email_on_retry = email_on_retry
        self.email_on_failure = email_on_failure

        if retries is None:
            retries = _default_retries()
        elif isinstance(retries, str):
            try:
                retries = int(retries)
            except ValueError:
                raise AerovaneDagError(
                    f"Task {task_id!r}: 'retries' type must be int, not {retries!r}"
                ) from None
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise AerovaneDagError(
                f"Task {task_id!r}: 'retries' must be a non-negative int, got {retries!r}"
            )
        self.retries = retries
        self.retry_delay: timedelta = _as_timedelta(retry_delay, "retry_delay", task_id)  # type: ignore[assignment]
        self.retry_exponential_backoff = retry_exponential_backoff
        self.max_retry_delay = _as_timedelta(max_retry_delay, "max_retry_delay", task_id)
        if execution_timeout is not None and not isinstance(execution_timeout, timedelta):
            raise AerovaneDagError(
                f"Task {task_id!r}: execution_timeout must be a datetime.timedelta, "
                f"got {type(execution_timeout).__name__}"
            )
        self.execution_timeout = execution_timeout

        self.start_date = coerce_optional_datetime(start_date, "start_date")
        self.end_date = coerce_optional_datetime(end_date, "end_date")
        self.depends_on_past = depends_on_past
        self.wait_for_downstream = wait_for_downstream
        if wait_for_downstream:
            self.depends_on_past = True

        self.params = params if isinstance(params, ParamsDict) else ParamsDict(params)
        if not isinstance(priority_weight, int) or isinstance(priority_weight, bool):
            raise AerovaneDagError(
                f"priority_weight for task {task_id!r} only accepts integers, "
                f"received {type(priority_weight).__name__}."
            )
        self.priority_weight = priority_weight
        try:
            self.weight_rule = coerce_weight_rule(weight_rule)
            self.trigger_rule = TriggerRule.coerce(trigger_rule)
        except ValueError as err:
            raise AerovaneDagError(f"Task {task_id!r}: {err}") from None
        self.queue = queue or _default_queue()
        self.pool = pool or "default_pool"
        if not isinstance(pool_slots, int) or pool_slots < 1:
            raise AerovaneDagError(
                f"Task {task_id!r}: pool_slots must be an integer >= 1, got {pool_slots!r}"
            )
        self.pool_slots = pool_slots
        if sla is not None and not isinstance(sla, timedelta):
            raise AerovaneDagError(
                f"Task {task_id!r}: sla must be a datetime.timedelta, got {type(sla).__name__}"
            )
        self.sla = sla

        self.on_execute_callback = on_execute_callback
        self.on_failure_callback = on_failure_callback
        self.on_success_callback = on_success_callback
        self.on_retry_callback = on_retry_callback
        self.on_skipped_callback = on_skipped_callback
        self._pre_execute_hook = pre_execute
        self._post_execute_hook = post_execute

        if task_concurrency is not None:
            warnings.warn(
                "The 'task_concurrency' argument is deprecated; use 'max_active_tis_per_dag'.",
                DeprecationWarning,
                stacklevel=3,
            )
            if max_active_tis_per_dag is None:
                max_active_tis_per_dag = task_concurrency
        self.max_active_tis_per_dag = max_active_tis_per_dag
        self.max_active_tis_per_dagrun = max_active_tis_per_dagrun
        self.executor_config = executor_config or {}
        self.do_xcom_push = do_xcom_push
        self.multiple_outputs = multiple_outputs
        self.inlets = _as_list(inlets)
        self.outlets = _as_list(outlets)
        self.doc = doc
        self.doc_md = doc_md
        self.task_display_name = task_display_name or task_id
        #: Jinja rendered after the task ran, with its (possibly changed) context: the map
        #: index's name shown as `rendered_map_index` (Airflow 2.9+).
        self.map_index_template = map_index_template

        self._dag: DAG | None = None
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        self._log: logging.Logger | None = None
        if dag is not None:
            self.dag = dag

    @classmethod
    def partial(cls, **kwargs: Any) -> OperatorPartial:
        """`Op.partial(task_id=..., **fixed).expand(arg=[...])`: one task instance per value."""
        from aerovane.authoring.mapping import OperatorPartial

        return OperatorPartial(cls, kwargs)

    @property
    def is_mapped(self) -> bool:
        return self.expand_input is not None

    def _post_init(self) -> None:
        """Runs after the outermost `__init__`: XComArgs in templated fields become edges."""
        for name in type(self).template_fields:
            value = getattr(self, name, None)
            if value is None or isinstance(value, _SCALARS):
                continue
            for arg in iter_xcom_args(value):
                self.set_upstream(arg.operator)

    # -- DAG membership -----------------------------------------------------------------------

    @property
    def dag(self) -> DAG | None:
        return self._dag

    @dag.setter
    def dag(self, dag: DAG | None) -> None:
        if dag is None:
            self._dag = None
            return
        if not isinstance(dag, DAG):
            raise TypeError(f"Expected a DAG; received {type(dag).__name__}")
        if self._dag is not None and self._dag is not dag:
            raise AerovaneDagError(f"The DAG assigned to {self!r} can not be changed.")
        if dag.task_dict.get(self.task_id) is not self:
            dag.add_task(self)
        self._dag = dag

    def has_dag(self) -> bool:
        return self._dag is not None

    @property
    def dag_id(self) -> str:
        return self._dag.dag_id if self._dag is not None else f"adhoc_{self.owner}"

    @property
    def task_type(self) -> str:
        return type(self).__name__

    @property
    def operator_name(self) -> str:
        return self.custom_operator_name or type(self).__name__

    @property
    def label(self) -> str:
        """The task id without its group's prefix."""
        group = self.task_group
        if group is not None and group.prefix_group_id and group.group_id:
            return self.task_id[len(group.group_id) + 1 :]
        return self.task_id

    # -- setup and teardown -------------------------------------------------------------------

    @property
    def is_setup(self) -> bool:
        return self._is_setup

    @is_setup.setter
    def is_setup(self, value: bool) -> None:
        if value and self._is_teardown:
            raise ValueError(f"Cannot mark task '{self.task_id}' as setup; task is a teardown.")
        self._is_setup = value

    @property
    def is_teardown(self) -> bool:
        return self._is_teardown

    @is_teardown.setter
    def is_teardown(self, value: bool) -> None:
        if value and self._is_setup:
            raise ValueError(f"Cannot mark task '{self.task_id}' as teardown; task is a setup.")
        self._is_teardown = value

    @property
    def on_failure_fail_dagrun(self) -> bool:
        """A teardown's failure fails the run only when this is True (Airflow's default: no)."""
        return self._on_failure_fail_dagrun

    @on_failure_fail_dagrun.setter
    def on_failure_fail_dagrun(self, value: bool) -> None:
        if value and not self._is_teardown:
            raise ValueError(
                f"Cannot set task on_failure_fail_dagrun for '{self.task_id}' "
                "because it is not a teardown task."
            )
        self._on_failure_fail_dagrun = value

    def as_setup(self) -> BaseOperator:
        """Mark as a setup task; returns the task, for chaining."""
        self.is_setup = True
        return self

    def as_teardown(
        self, *, setups: Relatives | None = None, on_failure_fail_dagrun: bool | None = None
    ) -> BaseOperator:
        """Mark as a teardown: it runs once its upstreams are done if a setup succeeded
        (ALL_DONE_SETUP_SUCCESS), even when the work failed; `setups` become its upstreams."""
        self.is_teardown = True
        self.trigger_rule = TriggerRule.ALL_DONE_SETUP_SUCCESS
        if on_failure_fail_dagrun is not None:
            self.on_failure_fail_dagrun = on_failure_fail_dagrun
        if setups is not None:
            items = [setups] if isinstance(setups, DependencyMixin) else list(setups)
            for item in items:
                for setup_task in item.roots:
                    setup_task.is_setup = True
            self.set_upstream(items)
        return self

    def __enter__(self) -> BaseOperator:
        """`with setup >> teardown:`: tasks built in the block run between the two."""
        from aerovane.authoring.setup_teardown import enter_scope

        enter_scope(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        from aerovane.authoring.setup_teardown import exit_scope

        exit_scope(wire=exc_type is None)

    # -- dependencies -------------------------------------------------------------------------

    @property
    def roots(self) -> list[BaseOperator]:
        return [self]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self]

    def set_upstream(self, other: Relatives) -> None:
        self._set_relatives(other, upstream=True)

    def set_downstream(self, other: Relatives) -> None:
        self._set_relatives(other, upstream=False)

    def _set_relatives(self, other: Relatives, *, upstream: bool) -> None:
        if isinstance(other, DependencyMixin):
            items: Iterable[Any] = (other,)
        elif isinstance(other, Iterable) and not isinstance(other, (str, Mapping)):
            items = other
        else:
            raise TypeError(
                "Relationships can only be set between operators, XComArgs or lists of them; "
                f"received {type(other).__name__}"
            )
        tasks: list[BaseOperator] = []
        for item in items:
            if isinstance(item, BaseOperator):
                tasks.append(item)
            elif isinstance(item, DependencyMixin):
                if isinstance(item, EdgeModifier):
                    # The label makes the edge once it knows both ends.
                    item.update_relative(self, upstream=not upstream)
                    continue
                tasks.extend(item.leaves if upstream else item.roots)
                if isinstance(item, TaskGroup):
                    item.update_relative(self, upstream=not upstream)
            else:
                raise TypeError(
                    "Relationships can only be set between operators, XComArgs or lists of "
                    f"them; received {type(item).__name__}"
                )
        dag = self._dag
        for task in tasks:
            task_dag = task._dag
            if task_dag is None:
                continue
            if dag is None:
                dag = task_dag
            elif task_dag is not dag:
                raise AerovaneDagError(
                    "Tried to set relationships between tasks in more than one DAG: "
                    f"{dag.dag_id!r} and {task_dag.dag_id!r}"
                )
        if dag is None:
            ids = ", ".join(repr(t.task_id) for t in [self, *tasks])
            raise AerovaneDagError(
                "Tried to create relationships between tasks that don't have DAGs yet. "
                f"Set the DAG for at least one task and try again: [{ids}]"
            )
        if self._dag is None:
            self.dag = dag
        for task in tasks:
            if task is self:
                raise AerovaneDagError(
                    f"Cycle detected in DAG: {dag.dag_id}. Faulty task: {self.task_id} "
                    "(a task cannot depend on itself)"
                )
            if task._dag is None:
                task.dag = dag
            if upstream:
                self.upstream_task_ids.add(task.task_id)
                task.downstream_task_ids.add(self.task_id)
            else:
                self.downstream_task_ids.add(task.task_id)
                task.upstream_task_ids.add(self.task_id)

    def get_direct_relative_ids(self, upstream: bool = False) -> set[str]:
        return set(self.upstream_task_ids if upstream else self.downstream_task_ids)

    def get_direct_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        dag = self._dag
        if dag is None:
            return []
        ids = self.upstream_task_ids if upstream else self.downstream_task_ids
        return [dag.task_dict[tid] for tid in ids]

    @property
    def upstream_list(self) -> list[BaseOperator]:
        return self.get_direct_relatives(upstream=True)

    @property
    def downstream_list(self) -> list[BaseOperator]:
        return self.get_direct_relatives(upstream=False)

    def get_flat_relative_ids(self, upstream: bool = False) -> set[str]:
        """Ids of all tasks transitively upstream (or downstream) of this one."""
        dag = self._dag
        if dag is None:
            return set()
        task_dict = dag.task_dict
        found: set[str] = set()
        stack = list(self.upstream_task_ids if upstream else self.downstream_task_ids)
        while stack:
            task_id = stack.pop()
            if task_id in found:
                continue
            found.add(task_id)
            task = task_dict[task_id]
            stack.extend(task.upstream_task_ids if upstream else task.downstream_task_ids)
        return found

    def get_flat_relatives(self, upstream: bool = False) -> list[BaseOperator]:
        dag = self._dag
        if dag is None:
            return []
        return [dag.task_dict[tid] for tid in self.get_flat_relative_ids(upstream=upstream)]

    @property
    def priority_weight_total(self) -> int:
        """Effective weight per `weight_rule` (see `priority.effective_priority_weights`)."""
        rule = self.weight_rule
        if rule not in (WeightRule.DOWNSTREAM, WeightRule.UPSTREAM) or self._dag is None:
            return self.priority_weight
        task_dict = self._dag.task_dict
        relatives = self.get_flat_relative_ids(upstream=self.weight_rule == WeightRule.UPSTREAM)
        return self.priority_weight + sum(task_dict[t].priority_weight for t in relatives)

    @property
    def output(self) -> XComArg:
        """This task's return value, as an XComArg for passing to other tasks."""
        return XComArg(self)

    # -- templating ---------------------------------------------------------------------------

    def get_template_env(self) -> jinja2.Environment:
        from aerovane.authoring.templating import build_jinja_env

        return build_jinja_env(self._dag)

    def render_template(
        self,
        content: Any,
        context: Mapping[str, Any],
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """`content` rendered; strings ending in a `template_ext` suffix load template files."""
        from aerovane.authoring.templating import render_template

        if jinja_env is None:
            jinja_env = self.get_template_env()
        return render_template(
            content, context, jinja_env, template_ext=self.template_ext, seen=seen_oids
        )

    def render_template_fields(
        self, context: Mapping[str, Any], jinja_env: jinja2.Environment | None = None
    ) -> None:
        """Render every attribute named in `template_fields`, in place."""
        if not self.template_fields:
            return
        if jinja_env is None:
            jinja_env = self.get_template_env()
        seen: set[int] = set()
        for name in self.template_fields:
            try:
                value = getattr(self, name)
            except AttributeError:
                raise AerovaneException(
                    f"{type(self).__name__} {self.task_id!r}: {name!r} is listed in "
                    "template_fields but is not an attribute of the operator"
                ) from None
            if value is None or (isinstance(value, (str, list, dict, tuple)) and not value):
                continue
            try:
                rendered = self.render_template(value, context, jinja_env, seen)
            except Exception:
                self.log.exception(
                    "Exception rendering Jinja template for task '%s', field '%s'. Template: %r",
                    self.task_id,
                    name,
                    value,
                )
                raise
            setattr(self, name, rendered)

    # -- run time -----------------------------------------------------------------------------

    @property
    def log(self) -> logging.Logger:
        if self._log is None:
            self._log = logging.getLogger(f"aerovane.task.operators.{type(self).__name__}")
        return self._log

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Do the task's work; the return value is pushed to XCom when `do_xcom_push`."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute(context)")

    def pre_execute(self, context: Any) -> None:
        """Called right before `execute` (runs the `pre_execute` argument, if given)."""
        if self._pre_execute_hook is not None:
            self._pre_execute_hook(context)

    def post_execute(self, context: Any, result: Any = None) -> None:
        """Called right after `execute` with its result (runs the `post_execute` argument);
        e.g. to set `context["outlet_events"][dataset].extra` from a classic operator."""
        if self._post_execute_hook is not None:
            self._post_execute_hook(context, result)

    def on_kill(self) -> None:
        """Called when the task process is told to stop; release subprocesses etc. here."""

    def defer(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: timedelta | None = None,
    ) -> NoReturn:
        """End this attempt as `deferred`; `method_name(context, event=..., **kwargs)` runs on
        a worker once `trigger` fires (the task fails if `timeout` passes first)."""
        raise TaskDeferred(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)

    def resume_execution(
        self, next_method: str, next_kwargs: dict[str, Any] | None, context: Mapping[str, Any]
    ) -> Any:
        """Called instead of `execute` when the attempt resumes from a deferral."""
        if next_method == "__fail__":
            next_kwargs = next_kwargs or {}
            if (trace := next_kwargs.get("traceback")) is not None:
                self.log.error("Trigger failed:\n%s", "\n".join(trace))
            raise TaskDeferralError(next_kwargs.get("error", "Unknown"))
        method = getattr(self, next_method)
        return method(context, **(next_kwargs or {}))

    def skip(self, context: Mapping[str, Any], task_ids: Iterable[str]) -> None:
        """Mark the given tasks of this run as skipped (through the engine's `ti`)."""
        ids = list(task_ids)
        if ids:
            context["ti"].skip_tasks(ids)

    @staticmethod
    def xcom_push(context: Mapping[str, Any], key: str, value: Any) -> None:
        context["ti"].xcom_push(key=key, value=value)

    @staticmethod
    def xcom_pull(
        context: Mapping[str, Any],
        task_ids: str | Iterable[str] | None = None,
        key: str = XCOM_RETURN_KEY,
    ) -> Any:
        return context["ti"].xcom_pull(task_ids=task_ids, key=key)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"
