"""What sensors read about the metadata, as plain queries over a session: the original start of
a rescheduled sensor, and how many of another DAG's runs, task instances or task group's task
instances are in some states.

The task runtime's metadata client calls these (in a task process, and in the triggerer for
`WorkflowTrigger`); authoring code never imports this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.services.dag_bag import get_serialized_dag

TI = models.TaskInstance
DR = models.DagRun
TR = models.TaskReschedule


def first_reschedule_start(
    *, dag_id: str, task_id: str, run_id: str, map_index: int, from_try: int, session: Session
) -> dt.datetime | None:
    """When the earliest recorded reschedule of this task instance, in try `from_try` or a
    later one, started (Airflow looks at later tries too, in case the first try's row was lost)."""
    return session.scalar(
        select(TR.start_date)
        .where(
            TR.dag_id == dag_id,
            TR.task_id == task_id,
            TR.run_id == run_id,
            TR.map_index == map_index,
            TR.try_number >= from_try,
        )
        .order_by(TR.id)
        .limit(1)
    )


def count_task_instances(
    *,
    dag_id: str,
    task_ids: Collection[str],
    logical_dates: Collection[dt.datetime],
    states: Collection[str],
    session: Session,
) -> int:
    """Task instances of `task_ids` in runs of `dag_id` at `logical_dates`, in `states`."""
    if not task_ids or not logical_dates or not states:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(TI)
            .join(DR, (DR.dag_id == TI.dag_id) & (DR.run_id == TI.run_id))
            .where(
                TI.dag_id == dag_id,
                TI.task_id.in_(list(task_ids)),
                TI.state.in_(list(states)),
                DR.logical_date.in_(list(logical_dates)),
            )
        )
        or 0
    )


def count_dag_runs(
    *,
    dag_id: str,
    logical_dates: Collection[dt.datetime],
    states: Collection[str],
    session: Session,
) -> int:
    """Runs of `dag_id` at `logical_dates` in `states`."""
    if not logical_dates or not states:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(DR)
            .where(
                DR.dag_id == dag_id,
                DR.state.in_(list(states)),
                DR.logical_date.in_(list(logical_dates)),
            )
        )
        or 0
    )


def dag_exists(dag_id: str, *, session: Session) -> bool:
    """`dag_id` was parsed and is still active."""
    active = session.scalar(
        select(models.DagModel.is_active).where(models.DagModel.dag_id == dag_id)
    )
    return bool(active)


def dag_has_task(dag_id: str, task_id: str, *, session: Session) -> bool:
    dag = get_serialized_dag(dag_id, session=session)
    return dag is not None and task_id in dag.task_dict


def dag_has_task_group(dag_id: str, group_id: str, *, session: Session) -> bool:
    dag = get_serialized_dag(dag_id, session=session)
    return dag is not None and group_id in dag.task_group.get_task_group_dict()


def task_group_share(
    *,
    dag_id: str,
    group_id: str,
    logical_dates: Collection[dt.datetime],
    states: Collection[str],
    session: Session,
) -> float:
    """The share of the task group's task instances (in runs of `dag_id` at `logical_dates`,
    mapped ones each counted) that are in `states`, as Airflow's sensor helper counts it: 0
    when the group is unknown or has no task instance yet."""
    dag = get_serialized_dag(dag_id, session=session)
    group = dag.task_group.get_task_group_dict().get(group_id) if dag is not None else None
    if group is None or not logical_dates:
        return 0.0
    task_ids = group.task_ids()
    if not task_ids:
        return 0.0
    rows = session.execute(
        select(TI.state)
        .join(DR, (DR.dag_id == TI.dag_id) & (DR.run_id == TI.run_id))
        .where(
            TI.dag_id == dag_id,
            TI.task_id.in_(task_ids),
            DR.logical_date.in_(list(logical_dates)),
        )
    ).all()
    if not rows:
        return 0.0
    wanted = set(states)
    return sum(1 for (state,) in rows if state in wanted) / len(rows)
