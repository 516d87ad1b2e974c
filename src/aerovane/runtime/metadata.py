"""The metadata client a running task gets as `ti.metadata`: the few reads of other task
instances and runs that operators need (a sensor's original start, another DAG's states). The
triggerer hands the same client to triggers as `trigger.metadata` (`WorkflowTrigger`).

Operators call this instead of importing services or the database, so the same operator would
work with a client that asks an API server (as Airflow 3's Task SDK does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from aerovane.db.engine import create_session
from aerovane.services import sensor_state

_T = TypeVar("_T")


def _read(query: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """`query(*args, **kwargs, session=...)` in its own short read transaction."""
    with create_session(readonly=True) as session:
        return query(*args, **kwargs, session=session)


class TaskMetadataClient:
    """Read-only queries, each in its own short read transaction."""

    def first_reschedule_start(
        self, *, dag_id: str, task_id: str, run_id: str, map_index: int, from_try: int
    ) -> dt.datetime | None:
        return _read(
            sensor_state.first_reschedule_start,
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            map_index=map_index,
            from_try=from_try,
        )

    def count_task_instances(
        self,
        *,
        dag_id: str,
        task_ids: Collection[str],
        logical_dates: Collection[dt.datetime],
        states: Collection[str],
    ) -> int:
        return _read(
            sensor_state.count_task_instances,
            dag_id=dag_id,
            task_ids=task_ids,
            logical_dates=logical_dates,
            states=states,
        )

    def count_dag_runs(
        self, *, dag_id: str, logical_dates: Collection[dt.datetime], states: Collection[str]
    ) -> int:
        return _read(
            sensor_state.count_dag_runs, dag_id=dag_id, logical_dates=logical_dates, states=states
        )

    def dag_exists(self, dag_id: str) -> bool:
        return _read(sensor_state.dag_exists, dag_id)

    def dag_has_task(self, dag_id: str, task_id: str) -> bool:
        return _read(sensor_state.dag_has_task, dag_id, task_id)

    def dag_has_task_group(self, dag_id: str, group_id: str) -> bool:
        return _read(sensor_state.dag_has_task_group, dag_id, group_id)

    def task_group_share(
        self,
        *,
        dag_id: str,
        group_id: str,
        logical_dates: Collection[dt.datetime],
        states: Collection[str],
    ) -> float:
        return _read(
            sensor_state.task_group_share,
            dag_id=dag_id,
            group_id=group_id,
            logical_dates=logical_dates,
            states=states,
        )
