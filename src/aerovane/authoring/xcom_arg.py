"""`XComArg`: a reference to a task's future XCom value, and what a task's result pushes.

Passing an XComArg into another task (a TaskFlow call, or a classic operator's templated field)
makes the producer upstream of the consumer and, at run time, is replaced by
`ti.xcom_pull(task_ids=producer, key=key)`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from aerovane.authoring._resolvable import Resolvable
from aerovane.authoring._sentinel import NOTSET
from aerovane.authoring.dependencies import DependencyMixin, Relatives
from aerovane.authoring.exceptions import AerovaneException

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator

__all__ = [
    "XCOM_RETURN_KEY",
    "MapXComArg",
    "XComArg",
    "ZipXComArg",
    "iter_xcom_args",
    "xcom_outputs",
]

XCOM_RETURN_KEY = "return_value"


class XComArg(Resolvable, DependencyMixin):
    """The XCom `key` (default: the return value) of `operator`, resolved when a task runs."""

    __slots__ = ("key", "operator")

    def __init__(self, operator: BaseOperator, key: str = XCOM_RETURN_KEY) -> None:
        self.operator = operator
        self.key = key

    @property
    def roots(self) -> list[BaseOperator]:
        return [self.operator]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [self.operator]

    def set_upstream(self, other: Relatives) -> None:
        self.operator.set_upstream(other)

    def set_downstream(self, other: Relatives) -> None:
        self.operator.set_downstream(other)

    def as_setup(self) -> XComArg:
        self.operator.as_setup()
        return self

    def as_teardown(
        self, *, setups: Relatives | None = None, on_failure_fail_dagrun: bool | None = None
    ) -> XComArg:
        self.operator.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        self.operator.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.operator.__exit__(exc_type, *rest)

    def __getitem__(self, key: str) -> XComArg:
        """`result["k"]`: the XCom pushed under key "k" (see `multiple_outputs`)."""
        return XComArg(self.operator, key)

    def __iter__(self) -> NoReturn:
        # Without this, Python would iterate via __getitem__(0), __getitem__(1), ... forever.
        raise TypeError(
            "'XComArg' object is not iterable: its value only exists when the task runs"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, XComArg):
            return NotImplemented
        return self.operator is other.operator and self.key == other.key

    def __hash__(self) -> int:
        return hash((id(self.operator), self.key))

    def __repr__(self) -> str:
        if self.key == XCOM_RETURN_KEY:
            return f"XComArg({self.operator!r})"
        return f"XComArg({self.operator!r}, {self.key!r})"

    def __str__(self) -> str:
        """A Jinja expression pulling the value, for embedding in templated strings."""
        task_id, key = self.operator.task_id, self.key
        return f"{{{{ task_instance.xcom_pull(task_ids={task_id!r}, key={key!r}) }}}}"

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        """Each item of this (list) value passed through `function`, in the consuming task."""
        return MapXComArg(self, (function,))

    def zip(self, *others: XComArg, fillvalue: Any = NOTSET) -> ZipXComArg:
        """Tuples of this value's items and `others`' (shortest wins, unless `fillvalue`)."""
        return ZipXComArg([self, *others], fillvalue=fillvalue)

    def resolve(self, context: Mapping[str, Any]) -> Any:
        consumer = context.get("task")
        if (
            self.operator.mapped_by_group
            and getattr(consumer, "mapped_by_group", False)
            and consumer.expand_input is self.operator.expand_input
        ):
            # Inside a mapped task group, each map index reads its own index's value.
            ti = context["ti"]
            return ti.xcom_pull(
                task_ids=self.operator.task_id, key=self.key, map_indexes=ti.map_index
            )
        value = context["ti"].xcom_pull(task_ids=self.operator.task_id, key=self.key)
        if value is None and self.operator.is_mapped:
            return []  # a mapped task that expanded to nothing (or pushed nothing) reduces to []
        return value


class MapXComArg(XComArg):
    """`xcom_arg.map(fn)`: the items of `arg`'s value, each through `callables` in turn."""

    __slots__ = ("arg", "callables")

    def __init__(self, arg: XComArg, callables: tuple[Callable[[Any], Any], ...]) -> None:
        super().__init__(arg.operator, arg.key)
        self.arg = arg
        self.callables = callables

    def map(self, function: Callable[[Any], Any]) -> MapXComArg:
        return MapXComArg(self.arg, (*self.callables, function))

    def apply(self, item: Any) -> Any:
        for function in self.callables:
            item = function(item)
        return item

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def resolve(self, context: Mapping[str, Any]) -> Any:
        value = self.arg.resolve(context)
        if isinstance(value, Mapping):
            value = list(value.items())
        return [self.apply(item) for item in value]


class ZipXComArg(Resolvable):
    """`a.zip(b, ...)`: tuples of the items of several XComArgs' values."""

    __slots__ = ("args", "fillvalue")

    def __init__(self, args: list[XComArg], *, fillvalue: Any = NOTSET) -> None:
        for arg in args:
            if not isinstance(arg, XComArg):
                raise TypeError(f"zip() takes XComArgs, got {type(arg).__name__}")
        self.args = args
        self.fillvalue = fillvalue

    def resolve(self, context: Mapping[str, Any]) -> Any:
        values = [arg.resolve(context) for arg in self.args]
        if self.fillvalue is NOTSET:
            return list(zip(*values, strict=False))
        return list(itertools.zip_longest(*values, fillvalue=self.fillvalue))


def iter_xcom_args(value: Any, _seen: set[int] | None = None) -> Iterator[XComArg]:
    """Every XComArg inside `value`, looking into lists, tuples, sets and dict values."""
    if isinstance(value, XComArg):
        yield value
    elif isinstance(value, ZipXComArg):
        yield from value.args
    elif isinstance(value, (list, tuple, set, frozenset)):
        seen = _seen if _seen is not None else set()
        if id(value) in seen:
            return
        seen.add(id(value))
        for item in value:
            yield from iter_xcom_args(item, seen)
    elif isinstance(value, dict):
        seen = _seen if _seen is not None else set()
        if id(value) in seen:
            return
        seen.add(id(value))
        for item in value.values():
            yield from iter_xcom_args(item, seen)


def xcom_outputs(task: BaseOperator, result: Any) -> list[tuple[str, Any]]:
    """The (key, value) XComs a finished task pushes for `result`, in push order.

    Nothing when `do_xcom_push` is off or the result is None; with `multiple_outputs` each key
    of the returned dict first, then the whole dict as the return value (Airflow's order).
    """
    if not task.do_xcom_push or result is None:
        return []
    pushes: list[tuple[str, Any]] = []
    if task.multiple_outputs:
        if not isinstance(result, Mapping):
            raise AerovaneException(
                f"Returned output was type {type(result).__name__}, "
                "expected dictionary for multiple_outputs"
            )
        for key in result:
            if not isinstance(key, str):
                raise AerovaneException(
                    "Returned dictionary keys must be strings when using multiple_outputs, "
                    f"found {key!r} ({type(key).__name__}) instead"
                )
        pushes.extend(result.items())
    pushes.append((XCOM_RETURN_KEY, result))
    return pushes
