"""Python-callable operators: `PythonOperator`, `BranchPythonOperator`, `ShortCircuitOperator`.

The callable receives `op_args` positionally, `op_kwargs` by keyword, and those context entries
its signature names (all of them if it takes `**kwargs`), as in Airflow. Branching and
short-circuiting skip downstream tasks through the engine's `ti.skip_tasks`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, ClassVar

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.exceptions import AerovaneException
from aerovane.authoring.operators.branch import BranchMixIn

__all__ = [
    "BranchPythonOperator",
    "PythonOperator",
    "ShortCircuitOperator",
    "determine_kwargs",
]


def determine_kwargs(
    func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The keyword arguments `func` should get from `kwargs` (context + op_kwargs).

    Everything if `func` takes `**kwargs`, else only the names in its signature. A parameter
    filled by a positional argument must not also be a context key: that call would be
    ambiguous, so it is refused as Airflow refuses it.
    """
    signature = inspect.signature(func)
    names = list(signature.parameters)
    for name in names[: len(args)]:
        if name in kwargs:
            raise ValueError(
                f"The key {name!r} in args is a part of kwargs and therefore reserved."
            )
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return dict(kwargs)
    return {name: kwargs[name] for name in names if name in kwargs}


class PythonOperator(BaseOperator):
    """Call `python_callable(*op_args, **op_kwargs, **<requested context>)`; return its result.

    `templates_dict` is rendered and handed to the callable as the `templates_dict` context
    entry; `templates_exts` overrides which suffixes mark template files in it.
    """

    template_fields: ClassVar[tuple[str, ...]] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "templates_dict": "json",
        "op_args": "py",
        "op_kwargs": "py",
    }
    ui_color: ClassVar[str] = "#ffefeb"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise AerovaneException("`python_callable` param must be callable")
        self.python_callable = python_callable
        self.op_args: Collection[Any] = op_args or ()
        self.op_kwargs: Mapping[str, Any] = op_kwargs or {}
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = tuple(templates_exts)  # type: ignore[misc]
        self.show_return_value_in_logs = show_return_value_in_logs

    def determine_kwargs(self, context: Mapping[str, Any]) -> dict[str, Any]:
        return determine_kwargs(self.python_callable, list(self.op_args), context)

    def execute(self, context: Mapping[str, Any]) -> Any:
        merged = dict(context)
        merged.update(self.op_kwargs)
        merged["templates_dict"] = self.templates_dict
        if isinstance(context, dict):
            # Callbacks and later hooks see the same templates_dict the callable saw.
            context["templates_dict"] = self.templates_dict
        self.op_kwargs = self.determine_kwargs(merged)
        self._outlet_events = context.get("outlet_events")
        result = self.execute_callable()
        if self.show_return_value_in_logs:
            self.log.info("Done. Returned value was: %s", result)
        else:
            self.log.info("Done. Returned value not shown")
        return result

    def execute_callable(self) -> Any:
        """Call the callable; a generator's yielded `Metadata` goes to `outlet_events`."""
        from aerovane.authoring.datasets import run_callable

        events = getattr(self, "_outlet_events", None)
        return run_callable(self.python_callable, events, *self.op_args, **self.op_kwargs)


class BranchPythonOperator(PythonOperator, BranchMixIn):
    """The callable returns the task id(s) to follow; other direct downstream tasks are skipped.

    Tasks downstream of a chosen branch are never skipped even if also directly downstream of
    this task (the "join" of an empty branch).
    """

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class ShortCircuitOperator(PythonOperator):
    """A falsy callable result skips downstream tasks; a truthy one lets them run.

    With `ignore_downstream_trigger_rules=True` (default) every task downstream is skipped;
    with False only the direct downstream tasks are, and tasks further down then follow their
    own trigger rules.
    """

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Mapping[str, Any]) -> Any:
        condition = super().execute(context)
        self.log.info("Condition result is %s", condition)
        if condition:
            self.log.info("Proceeding with downstream tasks...")
            return condition
        if not self.downstream_task_ids:
            self.log.info("No downstream tasks; nothing to do.")
            return condition
        if self.ignore_downstream_trigger_rules:
            targets = self.get_flat_relative_ids(upstream=False)
        else:
            targets = set(self.downstream_task_ids)
        dag = self.dag
        order = dag.task_dict if dag is not None else {}
        to_skip = [task_id for task_id in order if task_id in targets]
        self.log.info("Skipping downstream tasks %s", to_skip)
        self.skip(context, to_skip)
        self.log.info("Done.")
        return condition
