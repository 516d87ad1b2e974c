"""Operator classes behind the TaskFlow decorators (`@task`, `@task.branch`, ...).

They are the classic operators with a TaskFlow display name; `@task.bash` additionally runs the
function at execute time to obtain the command. Argument wiring lives in `decorators`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from aerovane.authoring.operators.bash import BashOperator
from aerovane.authoring.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
    determine_kwargs,
)
from aerovane.authoring.operators.python_env import (
    BranchExternalPythonOperator,
    BranchPythonVirtualenvOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from aerovane.authoring.sensors.python import PythonSensor

__all__ = [
    "_BashDecoratedOperator",
    "_BranchExternalPythonDecoratedOperator",
    "_BranchPythonDecoratedOperator",
    "_BranchPythonVirtualenvDecoratedOperator",
    "_PythonDecoratedOperator",
    "_PythonExternalDecoratedOperator",
    "_PythonVirtualenvDecoratedOperator",
    "_SensorDecoratedOperator",
    "_ShortCircuitDecoratedOperator",
]


class _PythonDecoratedOperator(PythonOperator):
    custom_operator_name: ClassVar[str | None] = "@task"


class _BranchPythonDecoratedOperator(BranchPythonOperator):
    custom_operator_name: ClassVar[str | None] = "@task.branch"


class _ShortCircuitDecoratedOperator(ShortCircuitOperator):
    custom_operator_name: ClassVar[str | None] = "@task.short_circuit"


class _PythonVirtualenvDecoratedOperator(PythonVirtualenvOperator):
    custom_operator_name: ClassVar[str | None] = "@task.virtualenv"


class _PythonExternalDecoratedOperator(ExternalPythonOperator):
    custom_operator_name: ClassVar[str | None] = "@task.external_python"


class _BranchPythonVirtualenvDecoratedOperator(BranchPythonVirtualenvOperator):
    custom_operator_name: ClassVar[str | None] = "@task.branch_virtualenv"


class _BranchExternalPythonDecoratedOperator(BranchExternalPythonOperator):
    custom_operator_name: ClassVar[str | None] = "@task.branch_external_python"


class _SensorDecoratedOperator(PythonSensor):
    """`@task.sensor`: the function is the poke; it returns a bool or a `PokeReturnValue`."""

    custom_operator_name: ClassVar[str | None] = "@task.sensor"
    template_fields: ClassVar[tuple[str, ...]] = ("op_args", "op_kwargs")


class _BashDecoratedOperator(BashOperator):
    """Runs the decorated function at execute time; its returned string is the command."""

    custom_operator_name: ClassVar[str | None] = "@task.bash"
    template_fields: ClassVar[tuple[str, ...]] = (
        *BashOperator.template_fields,
        "op_args",
        "op_kwargs",
    )

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("multiple_outputs", None)  # a command's output is one string
        super().__init__(bash_command="(set when the task runs)", **kwargs)
        self.python_callable = python_callable
        self.op_args: Collection[Any] = op_args or ()
        self.op_kwargs: Mapping[str, Any] = op_kwargs or {}

    def execute(self, context: Mapping[str, Any]) -> str:
        merged = {**context, **self.op_kwargs}
        kwargs = determine_kwargs(self.python_callable, list(self.op_args), merged)
        command = self.python_callable(*self.op_args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TypeError(
                "The returned value from the TaskFlow callable must be a non-empty string."
            )
        # The returned command may itself contain Jinja or name a .sh template file.
        self.bash_command = self.render_template(command, context)
        return super().execute(context)
