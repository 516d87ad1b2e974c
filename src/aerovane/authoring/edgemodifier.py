"""Edge labels: `a >> Label("when ready") >> b` adds the edge a→b and names it.

A `Label` stands between two groups of tasks in a dependency expression. It remembers the tasks
on the side it has seen; when the other side arrives it makes the real edges and records the
label in the DAG's `edge_info`, which serialization carries to the API's graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aerovane.authoring.dependencies import DependencyMixin, Relatives

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator

__all__ = ["EdgeModifier", "Label"]


def _tasks(other: Relatives, *, as_upstream: bool) -> list[BaseOperator]:
    """The operators on one side of an edge (leaves of an upstream group, roots of a downstream
    one); an EdgeModifier contributes nothing itself."""
    items = [other] if isinstance(other, DependencyMixin) else list(other)
    tasks: list[BaseOperator] = []
    for item in items:
        if not isinstance(item, DependencyMixin):
            raise TypeError(
                "Relationships can only be set between operators, XComArgs or lists of them; "
                f"received {type(item).__name__}"
            )
        tasks.extend(item.leaves if as_upstream else item.roots)
    return tasks


class EdgeModifier(DependencyMixin):
    """Attaches `info` to every edge made through it."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._upstream: list[BaseOperator] = []
        self._downstream: list[BaseOperator] = []

    @property
    def roots(self) -> list[BaseOperator]:
        return []

    @property
    def leaves(self) -> list[BaseOperator]:
        return []

    def edge_info(self) -> dict[str, Any]:
        return {"label": self.label}

    def set_upstream(self, other: Relatives) -> None:
        new = _tasks(other, as_upstream=True)
        self._upstream.extend(new)
        self._link(new, self._downstream)

    def set_downstream(self, other: Relatives) -> None:
        new = _tasks(other, as_upstream=False)
        self._downstream.extend(new)
        self._link(self._upstream, new)

    def add_upstream_task(self, task: BaseOperator) -> None:
        """Called by `task >> self`: the task is upstream of this modifier's edges."""
        self._upstream.append(task)
        self._link([task], self._downstream)

    def add_downstream_task(self, task: BaseOperator) -> None:
        """Called by `task << self`."""
        self._downstream.append(task)
        self._link(self._upstream, [task])

    def _link(self, upstream: list[BaseOperator], downstream: list[BaseOperator]) -> None:
        for up in upstream:
            for down in downstream:
                up.set_downstream(down)
                dag = up.dag
                assert dag is not None  # set_downstream attached both to one DAG
                dag.set_edge_info(up.task_id, down.task_id, self.edge_info())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"


class Label(EdgeModifier):
    """A name shown on the edge(s) between two tasks in the graph view."""

    def __init__(self, label: str) -> None:
        if not isinstance(label, str):
            raise TypeError(f"Label needs a string, got {type(label).__name__}")
        super().__init__(label)
