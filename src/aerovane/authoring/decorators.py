"""TaskFlow: `@task` (and `@task.python/.branch/.short_circuit/.bash`) and `@dag`.

Calling a `@task` function inside a DAG creates an operator and returns an `XComArg` for its
result; XComArgs among the call's arguments make their producers upstream and are swapped for
the pulled values when the task runs. Calling a `@dag` function builds the DAG, with the
function's keyword defaults as DAG params.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar, overload

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.context import KNOWN_CONTEXT_KEYS
from aerovane.authoring.dag import DAG, current_dag
from aerovane.authoring.task_group import current_task_group, task_group
from aerovane.authoring.xcom_arg import XComArg

__all__ = ["dag", "setup", "task", "task_group", "teardown"]

F = TypeVar("F", bound=Callable[..., Any])


def _infer_multiple_outputs(function: Callable[..., Any]) -> bool:
    """True when the return annotation is a mapping type (e.g. `-> dict[str, int]`)."""
    annotations = getattr(function, "__annotations__", {})
    if "return" not in annotations:
        return False
    try:
        return_type = typing.get_type_hints(function).get("return", Any)
    except (NameError, TypeError, AttributeError, SyntaxError):
        # Unresolvable annotations (e.g. forward references): no inference, as in Airflow.
        return False
    origin = typing.get_origin(return_type) or return_type
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _parse_time_signature(function: Callable[..., Any]) -> inspect.Signature:
    """`function`'s signature with context-key parameters defaulted, for parse-time binding.

    Context entries are supplied when the task runs, so the caller need not pass them; to keep
    that unambiguous they may only default to None.
    """
    signature = inspect.signature(function)
    parameters = []
    for param in signature.parameters.values():
        if param.name in KNOWN_CONTEXT_KEYS:
            if param.default not in (None, inspect.Parameter.empty):
                raise ValueError(
                    f"Context key parameter {param.name} can't have a default other than None"
                )
            param = param.replace(default=None)
        parameters.append(param)
    try:
        return signature.replace(parameters=parameters)
    except ValueError as err:
        raise ValueError(
            f"The signature of {function.__name__} became invalid when context-key parameters "
            "got a default of None; move context-key parameters after the others or give "
            f"the parameters before them defaults ({err})"
        ) from None


class _TaskDecorator(Generic[F]):
    """A decorated task function: call it in a DAG to add a task; `.function` is the original."""

    #: Set by `@setup` / `@teardown`: every task this function creates is one.
    is_setup: bool = False
    is_teardown: bool = False
    on_failure_fail_dagrun: bool = False

    def __init__(
        self,
        function: F,
        operator_class: type[BaseOperator],
        multiple_outputs: bool | None,
        kwargs: dict[str, Any],
    ) -> None:
        if not callable(function):
            raise TypeError(f"@task needs a callable, got {type(function).__name__}")
        functools.update_wrapper(self, function)
        self.function = function
        self.operator_class = operator_class
        self.kwargs = kwargs
        self.multiple_outputs = (
            _infer_multiple_outputs(function) if multiple_outputs is None else multiple_outputs
        )
        self._signature = _parse_time_signature(function)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        return XComArg(self._create_operator(args, kwargs))

    def partial(self, **kwargs: Any) -> _TaskPartial:
        """`fn.partial(fixed=...).expand(x=[...])`: fixed arguments for every map index."""
        return _TaskPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        """One task instance per value of each mapped argument (their cross product)."""
        return self.partial().expand(**mapped)

    def expand_kwargs(self, kwargs: Any) -> XComArg:
        """One task instance per dict of arguments (a list of dicts, or an XComArg of one)."""
        return self.partial().expand_kwargs(kwargs)

    def _create_operator(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> BaseOperator:
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{self.function.__name__}(): {err}") from None
        op_kwargs = dict(self.kwargs)
        dag = op_kwargs.get("dag") or current_dag()
        task_id = op_kwargs.pop("task_id", None) or self.function.__name__
        if isinstance(dag, DAG):
            group = op_kwargs.get("task_group") or current_task_group(dag)
            task_id = dag.unique_task_id(task_id, group)
        operator = self.operator_class(
            task_id=task_id,
            python_callable=self.function,
            op_args=args,
            op_kwargs=kwargs,
            multiple_outputs=self.multiple_outputs,
            **op_kwargs,
        )
        if operator.doc_md is None and self.function.__doc__:
            operator.doc_md = inspect.cleandoc(self.function.__doc__)
        if self.is_setup:
            operator.as_setup()
        elif self.is_teardown:
            operator.as_teardown(on_failure_fail_dagrun=self.on_failure_fail_dagrun)
        return operator

    def override(self, **kwargs: Any) -> _TaskDecorator[F]:
        """A copy with some operator arguments replaced: `my_task.override(task_id="x")()`."""
        multiple_outputs = kwargs.pop("multiple_outputs", self.multiple_outputs)
        copy = _TaskDecorator(
            self.function, self.operator_class, multiple_outputs, {**self.kwargs, **kwargs}
        )
        copy.is_setup, copy.is_teardown = self.is_setup, self.is_teardown
        copy.on_failure_fail_dagrun = self.on_failure_fail_dagrun
        return copy

    def __repr__(self) -> str:
        return f"<@task {self.function.__name__} ({self.operator_class.__name__})>"


class _TaskPartial:
    """`fn.partial(**fixed)` of a `@task` function."""

    def __init__(self, decorated: _TaskDecorator[Any], kwargs: dict[str, Any]) -> None:
        self.decorated = decorated
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> XComArg:
        from aerovane.authoring.mapping import (
            MappedArgument,
            _check_no_overlap,
            attach,
            expand_spec,
        )

        _check_no_overlap(self.kwargs, mapped)
        spec = expand_spec(mapped)
        placeholders = {name: MappedArgument(name) for name in mapped}
        operator = self.decorated._create_operator((), {**self.kwargs, **placeholders})
        return XComArg(attach(operator, spec, list(mapped.values())))

    def expand_kwargs(self, kwargs: Any) -> XComArg:
        from aerovane.authoring.mapping import MappedArgument, attach, expand_spec

        spec = expand_spec(None, kwargs)
        # Required parameters the elements must supply: placeholders keep parse-time binding.
        missing = {
            name: MappedArgument(name)
            for name, param in self.decorated._signature.parameters.items()
            if param.default is inspect.Parameter.empty
            and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
            and name not in self.kwargs
        }
        operator = self.decorated._create_operator((), {**self.kwargs, **missing})
        return XComArg(attach(operator, spec, [kwargs]))


def _decorator_for(operator_path: str) -> Callable[..., Any]:
    def decorator(
        python_callable: Callable[..., Any] | None = None,
        multiple_outputs: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        from aerovane.authoring.operators import decorated

        operator_class: type[BaseOperator] = getattr(decorated, operator_path)

        def wrap(function: Callable[..., Any]) -> _TaskDecorator[Any]:
            return _TaskDecorator(function, operator_class, multiple_outputs, kwargs)

        if python_callable is not None:
            return wrap(python_callable)
        return wrap

    decorator.__name__ = operator_path
    return decorator


class _TaskDecoratorCollection:
    """`task`: `@task`, `@task(...)`, `@task.python`, `.branch`, `.short_circuit`, `.bash`,
    `.virtualenv`, `.external_python`, `.branch_virtualenv`, `.branch_external_python`,
    `.sensor`."""

    python = staticmethod(_decorator_for("_PythonDecoratedOperator"))
    branch = staticmethod(_decorator_for("_BranchPythonDecoratedOperator"))
    short_circuit = staticmethod(_decorator_for("_ShortCircuitDecoratedOperator"))
    bash = staticmethod(_decorator_for("_BashDecoratedOperator"))
    virtualenv = staticmethod(_decorator_for("_PythonVirtualenvDecoratedOperator"))
    external_python = staticmethod(_decorator_for("_PythonExternalDecoratedOperator"))
    branch_virtualenv = staticmethod(_decorator_for("_BranchPythonVirtualenvDecoratedOperator"))
    branch_external_python = staticmethod(_decorator_for("_BranchExternalPythonDecoratedOperator"))
    sensor = staticmethod(_decorator_for("_SensorDecoratedOperator"))

    @overload
    def __call__(self, python_callable: F) -> _TaskDecorator[F]: ...

    @overload
    def __call__(
        self, python_callable: None = None, multiple_outputs: bool | None = None, **kwargs: Any
    ) -> Callable[[F], _TaskDecorator[F]]: ...

    def __call__(
        self,
        python_callable: Callable[..., Any] | None = None,
        multiple_outputs: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.python(python_callable, multiple_outputs=multiple_outputs, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"task.{name} is not supported by Aerovane; available TaskFlow decorators: "
            "task, task.python, task.branch, task.short_circuit, task.bash, task.virtualenv, "
            "task.external_python, task.branch_virtualenv, task.branch_external_python, "
            "task.sensor"
        )


task = _TaskDecoratorCollection()


class _DagDecorator:
    """The `dag` decorator; unknown attributes are looked up on the `aerovane.authoring.dag` module.

    `aerovane.authoring` re-exports this decorator as `dag`, which shadows the package attribute
    for its `dag` submodule: `from aerovane.authoring import dag` yields the decorator even where
    the module was meant (`dag.DAG`, `dag.collect_autoregistered_dags()`). Forwarding attribute
    lookups keeps both readings working instead of failing with a confusing AttributeError.
    """

    __slots__ = ()

    def __call__(self, dag_id: str | Callable[..., Any] = "", **dag_kwargs: Any) -> Any:
        """`@dag` / `@dag(dag_id=..., schedule=..., ...)`: calling the function builds the DAG.

        The DAG id defaults to the function name and `doc_md` to its docstring. Each function
        argument becomes a DAG param (its default, or the value passed in the call) and is
        handed to the function as a placeholder that resolves to the run's param value.
        """
        if callable(dag_id):
            return _dag_factory(dag_id, "", dag_kwargs)

        def wrap(function: Callable[..., Any]) -> Callable[..., DAG]:
            return _dag_factory(function, dag_id, dag_kwargs)

        return wrap

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(importlib.import_module("aerovane.authoring.dag"), name)

    def __repr__(self) -> str:
        return "<aerovane.authoring.dag decorator>"


dag = _DagDecorator()


def _dag_factory(
    function: Callable[..., Any], dag_id: str, dag_kwargs: dict[str, Any]
) -> Callable[..., DAG]:
    signature = inspect.signature(function)

    @functools.wraps(function)
    def factory(*args: Any, **kwargs: Any) -> DAG:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        with DAG(dag_id or function.__name__, **dag_kwargs) as dag_obj:
            if function.__doc__ and not dag_obj.doc_md:
                dag_obj.doc_md = inspect.cleandoc(function.__doc__)
            placeholders = {
                name: dag_obj.param(name, value) for name, value in bound.arguments.items()
            }
            function(**placeholders)
        return dag_obj

    return factory


def setup(function: Callable[..., Any]) -> _TaskDecorator[Any]:
    """`@setup` (above or instead of `@task`): the task it creates is a setup task."""
    decorated = function if isinstance(function, _TaskDecorator) else task(function)
    decorated.is_setup = True
    return decorated


def teardown(
    function: Callable[..., Any] | None = None, *, on_failure_fail_dagrun: bool = False
) -> Any:
    """`@teardown` / `@teardown(on_failure_fail_dagrun=True)`: the task it creates is a
    teardown (trigger rule ALL_DONE_SETUP_SUCCESS)."""

    def wrap(func: Callable[..., Any]) -> _TaskDecorator[Any]:
        decorated = func if isinstance(func, _TaskDecorator) else task(func)
        decorated.is_teardown = True
        decorated.on_failure_fail_dagrun = on_failure_fail_dagrun
        return decorated

    return wrap(function) if function is not None else wrap
