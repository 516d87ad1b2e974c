"""Dependencies between DAGs, from their serialized forms (Airflow's `DagDependency`):
datasets a DAG produces or is scheduled on, DAGs a TriggerDagRunOperator triggers, DAGs an
ExternalTaskSensor waits for. Read for `dags show-dependencies`; no user code is imported."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.db import models


@dataclass(frozen=True, order=True)
class DagDependency:
    source: str
    target: str
    dependency_type: str
    dependency_id: str


def _schedule_members(expression: Any) -> Iterator[tuple[str, str]]:
    """(kind, name) of each dataset or alias in a `dataset_expression`."""
    if isinstance(expression, str):
        yield "dataset", expression
    elif isinstance(expression, dict):
        if "alias" in expression:
            yield "dataset-alias", str(expression["alias"])
        for key in ("all", "any"):
            for member in expression.get(key) or ():
                yield from _schedule_members(member)
    elif isinstance(expression, list):
        for member in expression:
            yield from _schedule_members(member)


def dependencies_of(data: dict[str, Any]) -> list[DagDependency]:
    """One serialized DAG's dependencies, sorted and without duplicates."""
    dag_id = str(data["dag_id"])
    found: set[DagDependency] = set()
    for kind, name in _schedule_members(data.get("dataset_expression")):
        found.add(DagDependency(kind, dag_id, kind, name))
    for task in data.get("tasks") or ():
        for outlet in task.get("outlets") or ():
            found.add(DagDependency(dag_id, "dataset", "dataset", str(outlet["uri"])))
        for alias in task.get("outlet_aliases") or ():
            found.add(DagDependency(dag_id, "dataset-alias", "dataset-alias", str(alias)))
        extra = task.get("extra_fields") or {}
        task_id = str(task["task_id"])
        if isinstance(extra.get("trigger_dag_id"), str):
            found.add(DagDependency(dag_id, extra["trigger_dag_id"], "trigger", task_id))
        if isinstance(extra.get("external_dag_id"), str) and "external_task_id" not in extra:
            found.add(DagDependency(extra["external_dag_id"], dag_id, "sensor", task_id))
    return sorted(found)


def dag_dependencies(*, session: Session) -> dict[str, list[DagDependency]]:
    """Every active DAG's dependencies (DAGs without any are left out), by DAG id."""
    rows = session.execute(
        select(models.SerializedDagModel.dag_id, models.SerializedDagModel.data)
        .join(models.DagModel, models.DagModel.dag_id == models.SerializedDagModel.dag_id)
        .where(models.DagModel.is_active)
        .order_by(models.SerializedDagModel.dag_id)
    ).all()
    result = {}
    for dag_id, data in rows:
        deps = dependencies_of(data)
        if deps:
            result[dag_id] = deps
    return result
