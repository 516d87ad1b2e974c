"""What a DAG's grid and graph views show: runs x tasks with their states, task groups as a
tree whose rows summarise their children, mapped tasks summarised per state, and the task
graph (nodes, edges, groups) for a layout library to draw.

A grid costs two queries whatever the number of runs and tasks (the runs, then their task
instances counted per state); the DAG's structure comes from its serialized form. Plain
functions over a session the caller owns; no HTML here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from aerovane.authoring.serialization import SerializedDAG
from aerovane.authoring.task_group import SerializedTaskGroup
from aerovane.db import models

#: Airflow's order for summarising many states in one (`airflow.www.utils.priority`): a group
#: or mapped task shows the first of these that any of its instances has.
STATE_PRIORITY: tuple[str | None, ...] = (
    "failed",
    "upstream_failed",
    "up_for_retry",
    "up_for_reschedule",
    "queued",
    "scheduled",
    "deferred",
    "running",
    "restarting",
    None,
    "success",
    "skipped",
    "removed",
)
#: The most runs one grid shows.
MAX_RUNS = 100

RUN = models.DagRun.__table__.c
TI = models.TaskInstance.__table__.c


def summary_state(states: Any) -> str | None:
    """The state a row of many instances shows (Airflow's priority order)."""
    present = set(states)
    for state in STATE_PRIORITY:
        if state in present:
            return state
    return None


@dataclass(frozen=True, slots=True)
class GridRun:
    run_id: str
    state: str
    run_type: str
    logical_date: dt.datetime
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    external_trigger: bool

    @property
    def duration(self) -> float | None:
        if self.start_date is None or self.end_date is None:
            return None
        return (self.end_date - self.start_date).total_seconds()


@dataclass(slots=True)
class GridCell:
    state: str | None
    #: The newest try of an unmapped task (0 before its first); mapped cells keep the highest.
    try_number: int = 0
    #: How many instances are in each state (mapped tasks and groups; one for a plain task).
    states: dict[str | None, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.states.values())


@dataclass(slots=True)
class GridRow:
    """One row of the grid: a task, a mapped task or a task group."""

    id: str
    label: str
    kind: str  # "task" | "mapped" | "group"
    depth: int
    #: The group this row sits in (None: the DAG's root group).
    parent: str | None
    operator: str = ""
    cells: dict[str, GridCell] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class GridData:
    #: Oldest first (left to right), at most `MAX_RUNS`.
    runs: list[GridRun]
    #: Depth-first, as the DAG's task groups nest them.
    rows: list[GridRow]


def _walk(
    group: SerializedTaskGroup, dag: SerializedDAG, depth: int = 0
) -> Iterator[tuple[str, Any, int, str | None]]:
    """(kind, group or task, depth, enclosing group id) depth-first, groups before children."""
    for child in group.children.values():
        if isinstance(child, SerializedTaskGroup):
            yield "group", child, depth, group.group_id
            yield from _walk(child, dag, depth + 1)
        elif dag.has_task(child):
            yield "task", dag.get_task(child), depth, group.group_id


def grid_data(
    dag: SerializedDAG,
    *,
    num_runs: int = 25,
    run_state: str | None = None,
    run_type: str | None = None,
    session: Any,
) -> GridData:
    """The newest `num_runs` runs of `dag` (filtered by state/type) x its tasks and groups."""
    num_runs = max(1, min(num_runs, MAX_RUNS))
    query = select(
        RUN.run_id,
        RUN.state,
        RUN.run_type,
        RUN.execution_date,
        RUN.start_date,
        RUN.end_date,
        RUN.external_trigger,
    ).where(RUN.dag_id == dag.dag_id)
    if run_state:
        query = query.where(RUN.state == run_state)
    if run_type:
        query = query.where(RUN.run_type == run_type)
    rows = session.execute(query.order_by(RUN.execution_date.desc()).limit(num_runs)).all()
    runs = [GridRun(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in reversed(rows)]
    counts: dict[tuple[str, str], dict[str | None, int]] = {}
    tries: dict[tuple[str, str], int] = {}
    if runs:
        for run_id, task_id, state, count, try_number in session.execute(
            select(TI.run_id, TI.task_id, TI.state, func.count(), func.max(TI.try_number))
            .where(TI.dag_id == dag.dag_id, TI.run_id.in_([r.run_id for r in runs]))
            .group_by(TI.run_id, TI.task_id, TI.state)
        ):
            counts.setdefault((task_id, run_id), {})[state] = count
            key = (task_id, run_id)
            tries[key] = max(tries.get(key, 0), try_number or 0)

    grid_rows: list[GridRow] = []
    by_id: dict[str, GridRow] = {}
    for kind, item, depth, parent in _walk(dag.task_group, dag):
        if kind == "group":
            row = GridRow(
                id=item.group_id or "",
                label=item.group_display_name or item.label or "",
                kind="group",
                depth=depth,
                parent=parent,
            )
        else:
            row = GridRow(
                id=item.task_id,
                label=item.task_display_name,
                kind="mapped" if item.is_mapped else "task",
                depth=depth,
                parent=parent,
                operator=item.custom_operator_name or item.operator_name,
            )
            for run in runs:
                key = (item.task_id, run.run_id)
                states = counts.get(key)
                if states is not None:
                    row.cells[run.run_id] = GridCell(summary_state(states), tries[key], states)
        if parent is not None:
            by_id[parent].children.append(row.id)
        by_id[row.id] = row
        grid_rows.append(row)
    for row in reversed(grid_rows):  # a group's children follow it: they are summed first
        if row.kind != "group":
            continue
        for run in runs:
            merged: dict[str | None, int] = {}
            for child_id in row.children:
                cell = by_id[child_id].cells.get(run.run_id)
                if cell is not None:
                    for state, n in cell.states.items():
                        merged[state] = merged.get(state, 0) + n
            if merged:
                row.cells[run.run_id] = GridCell(summary_state(merged), 0, merged)
    return GridData(runs=runs, rows=grid_rows)


@dataclass(frozen=True, slots=True)
class MappedInstance:
    map_index: int
    state: str | None
    try_number: int
    start_date: dt.datetime | None
    end_date: dt.datetime | None


def mapped_instances(
    dag_id: str, run_id: str, task_id: str, *, limit: int = 1000, session: Any
) -> list[MappedInstance]:
    """The expanded instances of a mapped task in one run, by map index (bounded)."""
    rows = session.execute(
        select(TI.map_index, TI.state, TI.try_number, TI.start_date, TI.end_date)
        .where(TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == task_id)
        .where(TI.map_index >= 0)
        .order_by(TI.map_index)
        .limit(limit)
    )
    return [MappedInstance(r[0], r[1], r[2] or 0, r[3], r[4]) for r in rows]


def run_task_states(dag_id: str, run_id: str, *, session: Any) -> dict[str, str | None]:
    """Each task's state in one run (a mapped task's summarised); one query."""
    found: dict[str, set[str | None]] = {}
    for task_id, state in session.execute(
        select(TI.task_id, TI.state)
        .where(TI.dag_id == dag_id, TI.run_id == run_id)
        .group_by(TI.task_id, TI.state)
    ):
        found.setdefault(task_id, set()).add(state)
    return {task_id: summary_state(states) for task_id, states in found.items()}


def graph_data(dag: SerializedDAG) -> dict[str, Any]:
    """The DAG's tasks, dependencies (with edge labels) and task groups, JSON-safe, for the
    browser to lay out."""
    nodes = []
    groups = []
    parent_of: dict[str, str | None] = {}
    for kind, item, _depth, parent in _walk(dag.task_group, dag):
        if kind == "group":
            groups.append(
                {
                    "id": item.group_id,
                    "label": item.group_display_name or item.label,
                    "parent": parent,
                    "tooltip": item.tooltip,
                    "ui_color": item.ui_color,
                }
            )
        else:
            parent_of[item.task_id] = parent
    for task in dag.task_dict.values():
        nodes.append(
            {
                "id": task.task_id,
                "label": task.task_display_name,
                "operator": task.custom_operator_name or task.operator_name,
                "ui_color": task.ui_color,
                "ui_fgcolor": task.ui_fgcolor,
                "group": parent_of.get(task.task_id),
                "is_mapped": task.is_mapped,
            }
        )
    edges = []
    for task in dag.task_dict.values():
        for downstream in sorted(task.downstream_task_ids):
            info = dag.edge_info.get(task.task_id, {}).get(downstream, {})
            edges.append({"source": task.task_id, "target": downstream, "label": info.get("label")})
    return {
        "dag_id": dag.dag_id,
        "orientation": dag.orientation,
        "nodes": nodes,
        "edges": edges,
        "groups": groups,
    }
