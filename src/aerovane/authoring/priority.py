"""Effective priority weights of all tasks of a DAG, in near-linear time.

With weight_rule "downstream" a task's effective weight is its own plus that of every task
downstream of it ("upstream": every task upstream; "absolute": its own). Computing each sum by
walking the graph is O(n²) on long chains, so instead each task's set of descendants (or
ancestors) is an int bitset built in one pass over a topological order, and a set's total weight
is read off per bit-plane of the weights: sum = Σ_k 2^k · popcount(set & plane_k).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from aerovane.authoring._graph import CycleError, topological_order
from aerovane.authoring.exceptions import AerovaneDagError

__all__ = ["PRIORITY_WEIGHT_MAX", "PRIORITY_WEIGHT_MIN", "effective_priority_weights"]

# Weights are stored in 32-bit columns, as Airflow's `db_safe_priority` ensures.
PRIORITY_WEIGHT_MAX = 2**31 - 1
PRIORITY_WEIGHT_MIN = -(2**31)


class _WeightedTask(Protocol):
    priority_weight: int
    upstream_task_ids: Collection[str]
    downstream_task_ids: Collection[str]

    @property
    def weight_rule(self) -> str: ...


def _clamp(value: int) -> int:
    return max(PRIORITY_WEIGHT_MIN, min(PRIORITY_WEIGHT_MAX, value))


def effective_priority_weights(tasks: Mapping[str, _WeightedTask]) -> dict[str, int]:
    """task_id → effective priority weight for every task in `tasks` (a DAG's task_dict)."""
    ids = list(tasks)
    rules = {task_id: str(tasks[task_id].weight_rule) for task_id in ids}
    need_down = "downstream" in rules.values()
    need_up = "upstream" in rules.values()
    result = {task_id: tasks[task_id].priority_weight for task_id in ids}
    if not (need_down or need_up):
        return {task_id: _clamp(weight) for task_id, weight in result.items()}

    try:
        order = topological_order(ids, lambda tid: tasks[tid].downstream_task_ids)
    except CycleError as err:
        raise AerovaneDagError(f"Cycle detected: {err}") from None
    bit = {task_id: 1 << index for index, task_id in enumerate(order)}

    # Bit-planes of (weight - minimum) so every plane holds non-negative digits.
    weights = [tasks[task_id].priority_weight for task_id in order]
    minimum = min(weights)
    planes: list[int] = []
    for index, weight in enumerate(weights):
        offset = weight - minimum
        plane = 0
        while offset:
            if offset & 1:
                while len(planes) <= plane:
                    planes.append(0)
                planes[plane] |= 1 << index
            offset >>= 1
            plane += 1

    def total(mask: int) -> int:
        value = minimum * mask.bit_count()
        for k, plane_mask in enumerate(planes):
            if plane_mask:
                value += (mask & plane_mask).bit_count() << k
        return value

    if need_down:
        below: dict[str, int] = {}
        for task_id in reversed(order):
            mask = 0
            for child in tasks[task_id].downstream_task_ids:
                mask |= below[child] | bit[child]
            below[task_id] = mask
            if rules[task_id] == "downstream":
                result[task_id] += total(mask)
    if need_up:
        above: dict[str, int] = {}
        for task_id in order:
            mask = 0
            for parent in tasks[task_id].upstream_task_ids:
                mask |= above[parent] | bit[parent]
            above[task_id] = mask
            if rules[task_id] == "upstream":
                result[task_id] += total(mask)
    return {task_id: _clamp(weight) for task_id, weight in result.items()}
