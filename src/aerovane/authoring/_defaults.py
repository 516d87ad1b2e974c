"""Airflow's `apply_defaults`, as the operator metaclass.

Every operator `__init__` in a class hierarchy is wrapped so that arguments the caller did not
pass are filled from the DAG's `default_args` and the operator's own `default_args=` (the latter
winning), but only those the particular `__init__` accepts, so one `default_args` dict can feed
many operator types. The wrapper also enforces keyword-only construction, reports missing
required arguments with the task id, and, once the outermost `__init__` has finished, lets the
operator wire XComArg dependencies found in its templated fields.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABCMeta
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aerovane.authoring.exceptions import AerovaneException

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator

__all__ = ["BaseOperatorMeta", "apply_defaults"]

#: Instance-dict key holding the merged default_args while construction is in progress.
_STATE = "_aerovane_init_defaults"
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _init_parameters(func: Callable[..., Any]) -> tuple[frozenset[str], frozenset[str]]:
    """(accepted keyword names, required keyword names) of an `__init__`, `self` excluded.

    Read from the code object when possible: `inspect.signature` is comparatively slow to
    import and call, and this runs for every operator class defined.
    """
    code = getattr(func, "__code__", None)
    if code is None or hasattr(func, "__wrapped__") or code.co_posonlyargcount > 1:
        params = [
            p
            for p in list(inspect.signature(func).parameters.values())[1:]
            if p.kind not in _VARIADIC and p.kind is not inspect.Parameter.POSITIONAL_ONLY
        ]
        accepted = frozenset(p.name for p in params)
        required = frozenset(p.name for p in params if p.default is inspect.Parameter.empty)
        return accepted, required
    positional = code.co_varnames[1 : code.co_argcount]
    keyword_only = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    defaults = func.__defaults__ or ()  # type: ignore[attr-defined]
    kwdefaults = func.__kwdefaults__ or {}  # type: ignore[attr-defined]
    required = set(positional[: len(positional) - len(defaults)])
    required.update(name for name in keyword_only if name not in kwdefaults)
    return frozenset(positional + keyword_only), frozenset(required)


def _begin_construction(op: BaseOperator, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Work out the DAG and the merged default_args once, for the outermost `__init__`."""
    from aerovane.authoring.dag import current_dag
    from aerovane.authoring.task_group import current_task_group

    dag = kwargs.get("dag")
    if dag is None:
        dag = current_dag()
        if dag is not None:
            kwargs["dag"] = dag
    group = kwargs.pop("task_group", None) or current_task_group(dag)
    defaults: dict[str, Any] = dict(dag.default_args) if dag is not None else {}
    if group is not None:
        # Inside a group the task id is prefixed ("group.task") and the group's default_args
        # override the DAG's; the operator's own `default_args=` still win.
        defaults.update(group.default_args)
        if isinstance(kwargs.get("task_id"), str):
            kwargs["task_id"] = group.child_id(kwargs["task_id"])
        op.__dict__["task_group"] = group
    own = kwargs.pop("default_args", None)
    if own:
        own = dict(own)
        own_params = own.pop("params", None)
        if own_params:
            from aerovane.authoring.params import ParamsDict

            kwargs["params"] = ParamsDict(own_params).merged(kwargs.get("params"))
        defaults.update(own)
    return defaults


def apply_defaults(func: Callable[..., None]) -> Callable[..., None]:
    """Wrap an operator `__init__` so default_args fill the arguments it accepts."""
    accepted, required = _init_parameters(func)

    @functools.wraps(func)
    def wrapper(self: BaseOperator, *args: Any, **kwargs: Any) -> None:
        if args:
            raise AerovaneException(
                f"Use keyword arguments when initializing operators "
                f"({type(self).__name__} got {len(args)} positional argument(s))"
            )
        instance_dict = self.__dict__
        outermost = _STATE not in instance_dict
        if outermost:
            defaults = instance_dict[_STATE] = _begin_construction(self, kwargs)
        else:
            defaults = instance_dict[_STATE]
        for name, value in defaults.items():
            if name in accepted and name not in kwargs:
                kwargs[name] = value
        if required:
            missing = required.difference(kwargs)
            if missing:
                instance_dict.pop(_STATE, None)
                names = ", ".join(repr(name) for name in sorted(missing))
                plural = "s" if len(missing) > 1 else ""
                raise AerovaneException(
                    f"{type(self).__name__} (task_id: {kwargs.get('task_id')!r}): "
                    f"missing keyword argument{plural} {names}"
                )
        if not outermost:
            func(self, **kwargs)
            return
        try:
            func(self, **kwargs)
        finally:
            instance_dict.pop(_STATE, None)
        self._post_init()

    wrapper.__aerovane_applies_defaults__ = True  # type: ignore[attr-defined]
    return wrapper


class BaseOperatorMeta(ABCMeta):
    """Wraps each operator class's own `__init__` with `apply_defaults` at class creation."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> BaseOperatorMeta:
        init = namespace.get("__init__")
        if init is not None and not getattr(init, "__aerovane_applies_defaults__", False):
            namespace["__init__"] = apply_defaults(init)
        return super().__new__(mcls, name, bases, namespace, **kwargs)
