"""Following `ExternalTaskMarker`s when clearing: the task instances in other DAGs that depend
on the ones being cleared (Airflow's `include_dependent_dags`).

A marker's target comes from the serialized DAG (`extra_fields`); its `execution_date` template
is rendered here against the marker's run, with the date keys Airflow templates use.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.authoring.serialization import SerializedDAG
from aerovane.db import models
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.errors import BadRequest

MARKER = "ExternalTaskMarker"
TI = models.TaskInstance
DR = models.DagRun

#: Selects task instances of one DAG: (dag_id, task ids, run ids) → [(ti, logical date)].
Selector = Callable[[str, Collection[str], Collection[str]], list[tuple[TI, dt.datetime]]]


def _marker_date(template: str, run: models.DagRun) -> dt.datetime:
    from aerovane.authoring._time import as_utc
    from aerovane.authoring.templating import build_jinja_env, render_template

    logical = as_utc(run.logical_date)
    context: dict[str, Any] = {
        "logical_date": logical,
        "execution_date": logical,
        "data_interval_start": as_utc(run.data_interval_start or logical),
        "data_interval_end": as_utc(run.data_interval_end or logical),
        "ds": logical.strftime("%Y-%m-%d"),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "run_id": run.run_id,
        "macros": importlib.import_module("aerovane.authoring.macros"),
    }
    import jinja2

    try:
        rendered = render_template(template, context, build_jinja_env())
        return as_utc(dt.datetime.fromisoformat(str(rendered)))
    except (jinja2.TemplateError, ValueError) as exc:  # a bad template or date in the DAG
        raise BadRequest(f"ExternalTaskMarker execution_date {template!r}: {exc}") from None


def dependent_task_instances(
    dag: SerializedDAG,
    selected: list[tuple[models.TaskInstance, dt.datetime]],
    *,
    select_tis: Selector,
    session: Session,
) -> list[tuple[models.TaskInstance, dt.datetime]]:
    """The task instances markers among `selected` point at, with their downstream tasks, and
    transitively the markers among those, up to the first marker's `recursion_depth`."""
    from aerovane.services.task_instances import task_relatives

    found: list[tuple[models.TaskInstance, dt.datetime]] = []
    seen = {(ti.dag_id, ti.task_id, ti.run_id, ti.map_index) for ti, _ in selected}
    visited: set[tuple[str, str, str, int]] = set()
    dags: dict[str, SerializedDAG] = {dag.dag_id: dag}
    max_depth: int | None = None
    frontier = [(ti, 0) for ti, _ in selected]
    while frontier:
        ti, depth = frontier.pop(0)
        owner = dags.get(ti.dag_id)
        task = owner.task_dict.get(ti.task_id) if owner is not None else None
        if task is None or task.operator_name != MARKER or not task.extra_fields:
            continue
        key = (ti.dag_id, ti.task_id, ti.run_id, ti.map_index)
        if key in visited:
            continue
        visited.add(key)
        fields = task.extra_fields
        if max_depth is None:
            max_depth = int(fields.get("recursion_depth") or 10)
        if depth + 1 > max_depth:
            raise BadRequest(
                f"Maximum recursion depth {max_depth} reached for {MARKER} {ti.task_id}. "
                "Attempted to clear too many tasks or there may be a cyclic dependency."
            )
        run = session.scalar(select(DR).where(DR.dag_id == ti.dag_id, DR.run_id == ti.run_id))
        if run is None:
            continue
        when = _marker_date(str(fields["execution_date"]), run)
        target_dag_id = str(fields["external_dag_id"])
        target = dags.get(target_dag_id) or get_serialized_dag(target_dag_id, session=session)
        if target is None:
            raise BadRequest(f"Could not find dag {target_dag_id}")
        dags[target_dag_id] = target
        run_ids = list(
            session.scalars(
                select(DR.run_id).where(DR.dag_id == target_dag_id, DR.logical_date == when)
            )
        )
        task_ids = task_relatives(
            target, [str(fields["external_task_id"])], upstream=False, downstream=True
        )
        for other, logical in select_tis(target_dag_id, task_ids, run_ids):
            other_key = (other.dag_id, other.task_id, other.run_id, other.map_index)
            if other_key in seen:
                continue
            seen.add(other_key)
            found.append((other, logical))
            frontier.append((other, depth + 1))
    return found
