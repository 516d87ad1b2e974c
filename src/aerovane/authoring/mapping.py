"""Dynamic task mapping: `.partial(...).expand(...)` / `.expand_kwargs(...)` on operators.

A mapped task is an ordinary operator whose mapped arguments hold `MappedArgument`
placeholders, plus an *expand spec*: what it maps over (literal lists or upstream XComs). The
spec is plain JSON-able data, serialized with the DAG, so the scheduler works out the number of
task instances from it (`expanded_length`) and the task process the arguments of one map index
(`element_kwargs`) with the same code. Neither touches the database: the caller hands in `pull`,
which fetches an upstream's XCom value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aerovane.authoring._sentinel import NOTSET
from aerovane.authoring.exceptions import AerovaneException
from aerovane.authoring.xcom_arg import MapXComArg, XComArg, ZipXComArg, iter_xcom_args

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator
    from aerovane.authoring.task_group import TaskGroup

__all__ = [
    "MappedArgument",
    "OperatorPartial",
    "UnmappableValue",
    "element_kwargs",
    "expand_spec",
    "expanded_length",
    "unmap",
]

#: `pull(task_id, key)`: the upstream's XCom value (a list for a mapped upstream).
Pull = Callable[[str, str], Any]


class UnmappableValue(AerovaneException):
    """What a task maps over is not a list or dict, or an expand_kwargs element not a dict."""


class MappedArgument:
    """Stands in for a mapped argument until a map index's value replaces it at run time."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"MappedArgument({self.name!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> MappedArgument:
        return self


class _Spec:
    """Builds an expand spec; `.map()` functions are kept aside (they cannot be serialized: the
    scheduler only needs lengths, the task process has the functions)."""

    def __init__(self) -> None:
        self.callables: list[Callable[[Any], Any]] = []

    def source(self, value: Any, what: str) -> dict[str, Any]:
        if isinstance(value, MapXComArg):
            self.callables.append(value.apply)
            return {"map": self.source(value.arg, what), "fn": len(self.callables) - 1}
        if isinstance(value, ZipXComArg):
            zipped: dict[str, Any] = {"zip": [self.source(a, what) for a in value.args]}
            if value.fillvalue is not NOTSET:
                zipped["fillvalue"] = value.fillvalue
            return zipped
        if isinstance(value, XComArg):
            return {"xcom": {"task_id": value.operator.task_id, "key": value.key}}
        if isinstance(value, (list, tuple, dict)):
            return {"literal": value}
        raise UnmappableValue(
            f"{what}: can only map over a list, a dict or an XComArg, got {value!r}"
        )


def expand_spec(
    mapped: Mapping[str, Any] | None, kwargs_source: Any = None
) -> tuple[dict[str, Any], list[Callable[[Any], Any]]]:
    """The spec of `.expand(**mapped)` (`kind` "dict") or `.expand_kwargs(kwargs_source)`,
    and the `.map()` functions it refers to by index."""
    builder = _Spec()
    if mapped is not None:
        args = {
            name: builder.source(value, f"expand({name}=...)") for name, value in mapped.items()
        }
        return {"kind": "dict", "args": args}, builder.callables
    source = builder.source(kwargs_source, "expand_kwargs(...)")
    if "literal" in source and not isinstance(source["literal"], (list, tuple)):
        raise UnmappableValue("expand_kwargs(...) needs a list of dicts or an XComArg")
    return {"kind": "list", "value": source}, builder.callables


class _Items(Sequence[Any]):
    """A lazily transformed or zipped sequence: only the items asked for are computed."""

    def __init__(self, length: int, item: Callable[[int], Any]) -> None:
        self._length = length
        self._item = item

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(self._length))]
        if not 0 <= index < self._length:
            raise IndexError(index)
        return self._item(index)


def _resolve(
    source: Mapping[str, Any],
    pull: Pull,
    what: str,
    callables: Sequence[Callable[[Any], Any]] | None,
) -> Sequence[Any]:
    if "map" in source:
        base = _resolve(source["map"], pull, what, callables)

        def mapped(i: int) -> Any:
            if callables is None:
                raise AerovaneException("map() functions only run in the task process")
            return callables[source["fn"]](base[i])

        return _Items(len(base), mapped)
    if "zip" in source:
        parts = [_resolve(s, pull, what, callables) for s in source["zip"]]
        fill = "fillvalue" in source
        length = (max if fill else min)(len(p) for p in parts) if parts else 0

        def zipped(i: int) -> tuple[Any, ...]:
            return tuple(p[i] if i < len(p) else source.get("fillvalue") for p in parts)

        return _Items(length, zipped)
    if "literal" in source:
        value = source["literal"]
    else:
        value = pull(source["xcom"]["task_id"], source["xcom"]["key"])
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (list, tuple)):
        return value
    raise UnmappableValue(
        f"{what}: expand() can only map over a list or a dict, got {type(value).__name__} "
        f"({value!r})"
    )


def _lengths(
    spec: Mapping[str, Any],
    pull: Pull,
    callables: Sequence[Callable[[Any], Any]] | None = None,
) -> dict[str, Sequence[Any]]:
    if spec["kind"] == "dict":
        return {name: _resolve(s, pull, name, callables) for name, s in spec["args"].items()}
    return {"": _resolve(spec["value"], pull, "expand_kwargs", callables)}


def expanded_length(spec: Mapping[str, Any], pull: Pull) -> int:
    """How many task instances the task maps to: the product of the mapped lengths."""
    total = 1
    for values in _lengths(spec, pull).values():
        total *= len(values)
    return total


def element_kwargs(
    spec: Mapping[str, Any],
    pull: Pull,
    map_index: int,
    callables: Sequence[Callable[[Any], Any]] | None = None,
) -> dict[str, Any]:
    """The arguments of one map index; with several mapped arguments, the last varies fastest
    (Airflow's cross product order). `callables`: the operator's `.map()` functions."""
    resolved = _lengths(spec, pull, callables)
    if spec["kind"] == "list":
        element = resolved[""][map_index]
        if not isinstance(element, Mapping):
            raise UnmappableValue(
                f"expand_kwargs() expects a list of dicts, element {map_index} is "
                f"{type(element).__name__}"
            )
        return dict(element)
    out: dict[str, Any] = {}
    index = map_index
    for name in reversed(list(resolved)):
        values = resolved[name]
        out[name] = values[index % len(values)]
        index //= len(values)
    return out


def _substitute(value: Any, values: Mapping[str, Any], used: set[str]) -> Any:
    if isinstance(value, MappedArgument):
        if value.name not in values:
            raise AerovaneException(f"mapped argument {value.name!r} got no value")
        used.add(value.name)
        return values[value.name]
    if isinstance(value, dict):
        return {k: _substitute(v, values, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, used) for v in value]
    if isinstance(value, tuple):
        return tuple(_substitute(v, values, used) for v in value)
    return value


def unmap(task: BaseOperator, values: Mapping[str, Any]) -> BaseOperator:
    """A copy of mapped `task` with one map index's `values` in place of the placeholders.

    Names without a placeholder go to a TaskFlow task's `op_kwargs`, or else replace the
    operator attribute of that name (expand_kwargs may set any constructor argument).
    """
    clone = copy.copy(task)
    used: set[str] = set()
    for attr, value in list(vars(task).items()):
        if attr in ("expand_input", "expand_callables"):
            continue
        if isinstance(value, (MappedArgument, dict, list, tuple)):
            setattr(clone, attr, _substitute(value, values, used))
    for name in values.keys() - used:
        if task.mapped_by_group:
            continue  # the group's mapped arguments reach only the tasks that take them
        op_kwargs = getattr(clone, "op_kwargs", None)
        if getattr(clone, "python_callable", None) is not None and isinstance(op_kwargs, dict):
            op_kwargs[name] = values[name]
        elif hasattr(clone, name):
            setattr(clone, name, values[name])
        else:
            raise AerovaneException(
                f"{type(task).__name__} {task.task_id!r} has no argument {name!r} to map"
            )
    return clone


def _check_no_overlap(partial: Mapping[str, Any], mapped: Mapping[str, Any]) -> None:
    both = sorted(partial.keys() & mapped.keys())
    if both:
        raise TypeError(f"arguments given to both partial() and expand(): {', '.join(both)}")
    if not mapped:
        raise TypeError("expand() needs at least one argument to map over")


def attach(
    operator: BaseOperator,
    spec: tuple[dict[str, Any], list[Callable[[Any], Any]]],
    sources: Sequence[Any],
) -> BaseOperator:
    """Make `operator` mapped by `spec`: each XComArg among `sources` becomes an upstream."""
    operator.expand_input, operator.expand_callables = spec
    for arg in iter_xcom_args(list(sources)):
        operator.set_upstream(arg.operator)
    return operator


class OperatorPartial:
    """`SomeOperator.partial(**kwargs)`: call `.expand(...)` or `.expand_kwargs(...)` on it."""

    def __init__(self, operator_class: type[BaseOperator], kwargs: dict[str, Any]) -> None:
        if "task_id" not in kwargs:
            raise TypeError(f"{operator_class.__name__}.partial() needs a task_id")
        self.operator_class = operator_class
        self.kwargs = kwargs

    def expand(self, **mapped: Any) -> BaseOperator:
        _check_no_overlap(self.kwargs, mapped)
        spec = expand_spec(mapped)
        placeholders = {name: MappedArgument(name) for name in mapped}
        operator = self.operator_class(**self.kwargs, **placeholders)
        return attach(operator, spec, list(mapped.values()))

    def expand_kwargs(self, kwargs: Any) -> BaseOperator:
        spec = expand_spec(None, kwargs)
        missing = _required_arguments(self.operator_class) - self.kwargs.keys()
        placeholders = {name: MappedArgument(name) for name in missing}
        operator = self.operator_class(**self.kwargs, **placeholders)
        return attach(operator, spec, [kwargs])


def _required_arguments(operator_class: type[BaseOperator]) -> set[str]:
    """Required keyword arguments over the class hierarchy's `__init__`s."""
    from aerovane.authoring._defaults import _init_parameters

    required: set[str] = set()
    for klass in operator_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        init = getattr(init, "__wrapped__", init)
        required |= _init_parameters(init)[1]
    return required - {"task_id"}


def map_group(
    group: TaskGroup,
    function: Callable[..., Any],
    fixed: dict[str, Any],
    mapped: dict[str, Any],
) -> Any:
    """Build a `@task_group` function's tasks with `mapped` as placeholders (inside `group`),
    then map every task in it over `mapped`. Returns what the function returned."""
    _check_no_overlap(fixed, mapped)
    spec = expand_spec(mapped)
    result = function(**fixed, **{name: MappedArgument(name) for name in mapped})
    for operator in group:
        if operator.is_mapped:
            raise TypeError(
                f"task {operator.task_id!r} is mapped inside the mapped task group "
                f"{group.group_id!r}; mapping inside a mapped group is not supported"
            )
        attach(operator, spec, list(mapped.values()))
        operator.mapped_by_group = True
    return result
