"""`PythonSensor`: poke by calling a Python function (and what `@task.sensor` runs)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from aerovane.authoring.operators.python import determine_kwargs
from aerovane.authoring.sensors.base import BaseSensorOperator, PokeReturnValue

__all__ = ["PythonSensor"]


class PythonSensor(BaseSensorOperator):
    """Calls `python_callable(*op_args, **op_kwargs, **<requested context>)` at each poke.

    A true result (or a `PokeReturnValue` that is done) ends the wait; a `PokeReturnValue`'s
    `xcom_value` becomes the task's return value.
    """

    template_fields: ClassVar[tuple[str, ...]] = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("multiple_outputs", None)  # handed by @task.sensor; a sensor has one value
        super().__init__(**kwargs)
        if not callable(python_callable):
            raise TypeError("`python_callable` param must be callable")
        self.python_callable = python_callable
        self.op_args: Collection[Any] = op_args or ()
        self.op_kwargs: Mapping[str, Any] = op_kwargs or {}
        self.templates_dict = templates_dict

    def poke(self, context: Mapping[str, Any]) -> PokeReturnValue:
        merged = {**context, **self.op_kwargs, "templates_dict": self.templates_dict}
        args = list(self.op_args)
        kwargs = determine_kwargs(self.python_callable, args, merged)
        self.log.info("Poking callable: %s", self.python_callable)
        value = self.python_callable(*args, **kwargs)
        return value if isinstance(value, PokeReturnValue) else PokeReturnValue(bool(value))
