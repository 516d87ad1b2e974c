"""Graph algorithms over task ids: topological order and cycle reporting.

Used by `DAG.check_cycle` and by priority-weight computation. Both are iterative (no recursion
limit on long chains) and linear in tasks + edges.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

__all__ = ["CycleError", "find_cycle", "topological_order"]


class CycleError(Exception):
    """The graph has a cycle; `path` lists it, first node repeated at the end."""

    def __init__(self, path: list[str]) -> None:
        super().__init__(" -> ".join(path))
        self.path = path


def topological_order(
    nodes: Collection[str], downstream: Callable[[str], Iterable[str]]
) -> list[str]:
    """Nodes ordered so every edge points forward (Kahn's algorithm, stable in `nodes` order).

    Raises `CycleError` naming one cycle when there is no such order.
    """
    indegree = dict.fromkeys(nodes, 0)
    for node in nodes:
        for child in downstream(node):
            indegree[child] += 1
    ready = [node for node in nodes if indegree[node] == 0]
    ready.reverse()
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for child in downstream(node):
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    if len(order) != len(indegree):
        remaining = [node for node, degree in indegree.items() if degree > 0]
        cycle = find_cycle(remaining, downstream)
        raise CycleError(cycle or remaining)
    return order


def find_cycle(
    nodes: Iterable[str], downstream: Callable[[str], Iterable[str]]
) -> list[str] | None:
    """One cycle reachable from `nodes` as a path `[a, b, ..., a]`, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for start in nodes:
        if start in state:
            continue
        path: list[str] = [start]
        stack = [iter(downstream(start))]
        state[start] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            seen = state.get(child)
            if seen == 1:
                return [*path[path.index(child) :], child]
            if seen is None:
                state[child] = 1
                path.append(child)
                stack.append(iter(downstream(child)))
    return None
