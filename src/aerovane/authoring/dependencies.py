"""Task dependency syntax: `>>`, `<<`, `chain` and `cross_downstream`.

`DependencyMixin` gives the shift operators to everything that can stand at either end of an
edge (operators, XComArgs); the actual edge bookkeeping lives in `BaseOperator`.
"""

from __future__ import annotations

import itertools
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

from aerovane.authoring.exceptions import AerovaneDagError

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator

__all__ = ["DependencyMixin", "Relatives", "chain", "cross_downstream"]

#: One end of an edge: a task-like object or a sequence of them.
Relatives = Union["DependencyMixin", Sequence["DependencyMixin"]]


class DependencyMixin:
    """`a >> b` makes b downstream of a and returns b, so edges chain left to right."""

    __slots__ = ()

    @property
    @abstractmethod
    def roots(self) -> list[BaseOperator]:
        """Operators an incoming edge attaches to."""

    @property
    @abstractmethod
    def leaves(self) -> list[BaseOperator]:
        """Operators an outgoing edge leaves from."""

    @abstractmethod
    def set_upstream(self, other: Relatives) -> None:
        """Make `other` (one or many) upstream of this."""

    @abstractmethod
    def set_downstream(self, other: Relatives) -> None:
        """Make `other` (one or many) downstream of this."""

    def __rshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        # `[a, b] >> self`: lists have no `>>`, so Python asks the right operand.
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        self.set_downstream(other)
        return self


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def chain(*tasks: Relatives) -> None:
    """Link tasks in order; adjacent lists of equal length are linked pairwise.

    `chain(a, [b, c], [d, e], f)` gives a>>b, a>>c, b>>d, c>>e, d>>f, e>>f.
    """
    for up, down in itertools.pairwise(tasks):
        if isinstance(up, DependencyMixin):
            up.set_downstream(down)
            continue
        if isinstance(down, DependencyMixin):
            down.set_upstream(up)
            continue
        if not _is_sequence(up) or not _is_sequence(down):
            raise TypeError(
                f"Chain not supported between instances of {type(up).__name__} "
                f"and {type(down).__name__}"
            )
        if len(up) != len(down):
            raise AerovaneDagError(
                f"Chain not supported for different length Iterable. Got {len(up)} and {len(down)}."
            )
        for up_task, down_task in zip(up, down, strict=True):
            up_task.set_downstream(down_task)


def cross_downstream(from_tasks: Sequence[DependencyMixin], to_tasks: Relatives) -> None:
    """Make every task in `to_tasks` downstream of every task in `from_tasks`."""
    for task in from_tasks:
        task.set_downstream(to_tasks)


def chain_linear(*elements: Relatives) -> None:
    """Link each element to the next, every task of one to every task of the next.

    `chain_linear(a, [b, c], d)` gives a>>b, a>>c, b>>d, c>>d (Airflow's `chain_linear`).
    """
    if len(elements) < 2:
        raise ValueError("No dependencies were set. Did you forget to expand with `*`?")
    for up, down in itertools.pairwise(elements):
        ups = list(up) if _is_sequence(up) else [up]
        for task in ups:
            task.set_downstream(down)
