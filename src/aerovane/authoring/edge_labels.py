"""Edge labels: `check >> Label("errors found") >> report` (Airflow's `EdgeModifier`).

A label stands between two ends of an edge: once both sides are known it makes the edges and
records `{"label": ...}` for each (upstream task, downstream task) pair in the DAG's
`edge_info`, which serialization carries to the API. Labels change no scheduling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aerovane.authoring.dependencies import DependencyMixin, Relatives

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator

__all__ = ["EdgeModifier", "Label"]


class EdgeModifier(DependencyMixin):
    """Information (a label) for the edges drawn through it."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[DependencyMixin] = []
        self._downstream: list[DependencyMixin] = []

    @property
    def roots(self) -> list[BaseOperator]:
        return [t for node in self._downstream for t in node.roots]

    @property
    def leaves(self) -> list[BaseOperator]:
        return [t for node in self._upstream for t in node.leaves]

    @staticmethod
    def _nodes(other: Relatives) -> list[DependencyMixin]:
        items = [other] if not isinstance(other, Sequence) else list(other)
        for item in items:
            if not isinstance(item, DependencyMixin) or isinstance(item, EdgeModifier):
                raise TypeError(
                    f"Cannot use edge labels with {type(item).__name__}, "
                    "only tasks, XComArg or TaskGroups"
                )
        return items

    def set_upstream(self, other: Relatives) -> None:
        nodes = self._nodes(other)
        self._upstream.extend(nodes)
        for down in self._downstream:
            for up in nodes:
                self._connect(up, down)

    def set_downstream(self, other: Relatives) -> None:
        nodes = self._nodes(other)
        self._downstream.extend(nodes)
        for up in self._upstream:
            for down in nodes:
                self._connect(up, down)

    def update_relative(self, other: Any, *, upstream: bool) -> None:
        """`task >> label`: the task's `>>` tells the label which side it is on."""
        if upstream:
            self._upstream.append(other)
        else:
            self._downstream.append(other)

    def _connect(self, up: DependencyMixin, down: DependencyMixin) -> None:
        up.set_downstream(down)
        for up_task in up.leaves:
            dag = up_task.dag
            if dag is None:
                continue
            for down_task in down.roots:
                dag.set_edge_info(up_task.task_id, down_task.task_id, {"label": self.label})


def Label(label: str) -> EdgeModifier:
    """An edge modifier that puts a human-readable label on the edge."""
    if not isinstance(label, str):
        raise TypeError(f"Label needs a string, not {type(label).__name__}")
    return EdgeModifier(label=label)
