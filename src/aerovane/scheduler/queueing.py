"""Choosing which scheduled task instances to hand to the executor, within every limit:
executor slots (`[core] parallelism`), each DAG's `max_active_tasks`, and pool slots."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.control.live import snapshot as environment_snapshot
from aerovane.db import models
from aerovane.db.engine import is_postgres
from aerovane.db.types import utcnow
from aerovane.executors.base import TaskKey, TaskWorkload
from aerovane.scheduler.runs import scheduler_owned
from aerovane.services.task_logs import log_path
from aerovane.states import ACTIVE_TI_VALUES, FINISHED_TI_VALUES, DagRunState, TaskState

TI = models.TaskInstance
HISTORY_COLUMNS = (
    "dag_id",
    "task_id",
    "run_id",
    "map_index",
    "try_number",
    "max_tries",
    "state",
    "start_date",
    "end_date",
    "duration",
    "hostname",
    "unixname",
    "pid",
    "operator",
    "pool",
    "pool_slots",
    "queue",
    "priority_weight",
    "queued_dttm",
    "executor",
    "task_display_name",
)


@dataclass
class Limits:
    executor_slots: int
    #: Attempts whose process the executor still runs. A rescheduled sensor's next poke has the
    #: same key as the poke that is still exiting, so it waits for that exit.
    busy: frozenset[TaskKey] = frozenset()
    #: Set by `queue_task_instances`: something ready was held back for a busy key.
    held_back: bool = False


def queue_task_instances(
    *, limits: Limits, job_id: int | None, executor_name: str, session: Session
) -> list[TaskWorkload]:
    """Mark the chosen task instances queued (try_number + 1) and return their workloads.

    The caller commits, then hands the workloads to the executor.
    """
    if limits.executor_slots <= 0:
        return []
    max_per_query = get_settings().getint("scheduler", "max_tis_per_query")
    query = (
        select(TI, models.DagModel.fileloc, models.DagModel.max_active_tasks)
        .join(
            models.DagRun, (models.DagRun.dag_id == TI.dag_id) & (models.DagRun.run_id == TI.run_id)
        )
        .join(models.DagModel, models.DagModel.dag_id == TI.dag_id)
        .where(
            TI.state == TaskState.SCHEDULED.value,
            models.DagRun.state == DagRunState.RUNNING.value,
            scheduler_owned(),
            models.DagModel.is_paused.is_(False),
        )
        .order_by(TI.priority_weight.desc(), models.DagRun.logical_date, TI.task_id)
        .limit(max_per_query)
    )
    pg = is_postgres(session)
    if pg:
        query = query.with_for_update(of=TI, skip_locked=True)
    candidates = session.execute(query).all()
    if not candidates:
        return []

    pool_query = select(models.Pool.pool, models.Pool.slots)
    if pg:
        # Serializes pool accounting between schedulers; held only for this short transaction.
        pool_query = pool_query.with_for_update()
    pool_slots = dict(session.execute(pool_query).all())
    used_by_pool: Counter[str] = Counter(
        dict(
            session.execute(
                select(TI.pool, func.sum(TI.pool_slots))
                .where(TI.state.in_(ACTIVE_TI_VALUES))
                .group_by(TI.pool)
            ).all()
        )
    )
    dag_ids = sorted({row[0].dag_id for row in candidates})
    active_by_dag: Counter[str] = Counter(
        dict(
            session.execute(
                select(TI.dag_id, func.count())
                .where(TI.state.in_(ACTIVE_TI_VALUES), TI.dag_id.in_(dag_ids))
                .group_by(TI.dag_id)
            ).all()
        )
    )

    now = utcnow()
    chosen: list[TaskWorkload] = []
    environment = environment_snapshot()
    slots = limits.executor_slots
    for ti, fileloc, max_active_tasks in candidates:
        if slots <= 0:
            break
        if active_by_dag[ti.dag_id] >= max_active_tasks:
            continue
        capacity = pool_slots.get(ti.pool)
        if capacity is None:
            continue  # an unknown pool never opens; the task waits, as in Airflow
        if capacity >= 0 and used_by_pool[ti.pool] + ti.pool_slots > capacity:
            continue
        if ti.next_retry_at is None and ti.next_method is None:  # a new try (runs.advance_run)
            if ti.try_number > 0:
                archive_try(ti, session=session)
            ti.try_number += 1
        elif TaskKey(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number) in limits.busy:
            limits.held_back = True
            continue
        # else: back from up_for_reschedule (the sensor's next poke) or from a deferral (the
        # resume): the same try
        ti.state = TaskState.QUEUED.value
        ti.queued_dttm = now
        ti.queued_by_job_id = job_id
        ti.executor = executor_name
        ti.pid = None
        ti.next_retry_at = None
        active_by_dag[ti.dag_id] += 1
        used_by_pool[ti.pool] += ti.pool_slots
        slots -= 1
        key = TaskKey(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number)
        chosen.append(
            TaskWorkload(
                key=key,
                fileloc=fileloc,
                log_path=str(
                    log_path(ti.dag_id, ti.run_id, ti.task_id, ti.try_number, ti.map_index)
                ),
                queue=ti.queue,
                priority_weight=ti.priority_weight,
                environment=environment,
            )
        )
    return chosen


def archive_try(ti: models.TaskInstance, *, session: Session) -> None:
    """Keep the finished previous attempt for the `tries` endpoints before starting a new one."""
    exists = session.scalar(
        select(func.count())
        .select_from(models.TaskInstanceHistory)
        .where(
            models.TaskInstanceHistory.dag_id == ti.dag_id,
            models.TaskInstanceHistory.task_id == ti.task_id,
            models.TaskInstanceHistory.run_id == ti.run_id,
            models.TaskInstanceHistory.map_index == ti.map_index,
            models.TaskInstanceHistory.try_number == ti.try_number,
        )
    )
    if exists:
        return
    values = {c: getattr(ti, c) for c in HISTORY_COLUMNS}
    # The previous attempt ended in up_for_retry (now already `scheduled` again): as in Airflow,
    # an attempt archived without a finished state is recorded as failed.
    if values["state"] not in FINISHED_TI_VALUES:
        values["state"] = TaskState.FAILED.value
    session.execute(insert(models.TaskInstanceHistory).values(**values))
