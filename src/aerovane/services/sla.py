"""SLA misses (Airflow 2's `sla` / `sla_miss` / `sla_miss_callback`).

A task with `sla` is expected to have finished `sla` after its run's data interval ended. A DAG
processor calls `record_sla_misses` for the DAGs whose parsed tasks have an SLA; each task
instance that is past that deadline and not successful (or succeeded only after it) gets one
`sla_miss` row, and the DAG gets a callback request so its `sla_miss_callback` and the tasks'
`email` alerts run in a child process. Only task instances of existing runs that are
unfinished or finished within `window` are looked at (one query per such DAG); intervals
without a run are not reported, unlike Airflow. A mapped task misses its SLA once per run (the
`sla_miss` key has no map index, as in Airflow) when any of its map indexes is late.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.services.callbacks import request_callback
from aerovane.states import TaskState

__all__ = ["SLA_CALLBACK", "record_sla_misses"]

SLA_CALLBACK = "SlaCallbackRequest"


def record_sla_misses(
    *,
    dag_id: str,
    fileloc: str,
    slas: Mapping[str, dt.timedelta],
    notify: bool,
    now: dt.datetime,
    window: dt.timedelta = dt.timedelta(days=1),
    session: Session,
) -> int:
    """Record new misses of `dag_id`'s tasks (task id → sla); the number recorded. With
    `notify`, a new miss queues an SLA callback request for the DAG processor."""
    if not slas:
        return 0
    TI, DR, SM = models.TaskInstance, models.DagRun, models.SlaMiss
    rows = session.execute(
        select(TI.task_id, TI.state, TI.end_date, DR.logical_date, DR.data_interval_end)
        .join(DR, and_(DR.dag_id == TI.dag_id, DR.run_id == TI.run_id))
        .outerjoin(
            SM,
            and_(
                SM.dag_id == TI.dag_id,
                SM.task_id == TI.task_id,
                SM.execution_date == DR.logical_date,
            ),
        )
        .where(
            TI.dag_id == dag_id,
            TI.task_id.in_(list(slas)),
            DR.data_interval_end.is_not(None),
            or_(TI.end_date.is_(None), TI.end_date >= now - window),
            SM.task_id.is_(None),
        )
    ).all()
    recorded = 0
    missed: set[tuple[str, dt.datetime]] = set()
    for row in rows:
        if (row.task_id, row.logical_date) in missed:
            continue  # another map index of the same task already missed in this run
        deadline = row.data_interval_end + slas[row.task_id]
        if deadline >= now:
            continue
        if row.state == TaskState.SKIPPED.value:
            continue
        if row.state == TaskState.SUCCESS.value and (
            row.end_date is None or row.end_date <= deadline
        ):
            continue
        session.add(
            models.SlaMiss(
                task_id=row.task_id,
                dag_id=dag_id,
                execution_date=row.logical_date,
                timestamp=now,
                description=f"expected by {deadline.isoformat()}",
            )
        )
        missed.add((row.task_id, row.logical_date))
        recorded += 1
    if recorded and notify:
        request_callback(SLA_CALLBACK, {"dag_id": dag_id, "fileloc": fileloc}, session=session)
    return recorded
