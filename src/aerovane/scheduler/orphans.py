"""Recovering what a dead scheduler or a vanished task process left behind, as Airflow's
`adopt_or_reset_orphaned_tasks` does, at start-up and then periodically in the loop.

- A scheduler job is dead when its heartbeat is older than `[scheduler]
  scheduler_health_check_threshold`, or at once when it ran on this host and its process is gone
  (see `liveness`): a restart within the threshold must not wait for it.
- `queued` attempts of this executor whose scheduler is dead, and this scheduler's own queued
  attempts its executor does not run (a hand-over lost to a connection broken at commit), go
  back to `scheduled` with their try number restored; their process, if one was forked,
  claims nothing (the claim needs the row `queued` for its try), or claims the re-queued row
  instead of the new process: either way one execution.
- `running` attempts recorded on this host whose process is gone are failed or retried, unless
  this scheduler's executor still tracks them (it reports their exit itself). Running attempts
  of a dead scheduler on another host are failed once their own heartbeat is older than the
  health-check threshold. An attempt whose process may still run is never touched.

Nothing here runs a task; the loop's next pass re-queues what was reset.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import is_postgres
from aerovane.db.types import utcnow
from aerovane.executors.base import TaskKey
from aerovane.scheduler.dead_tasks import fail_dead_attempt
from aerovane.scheduler.liveness import process_gone, this_host
from aerovane.states import TaskState

log = logging.getLogger("aerovane.scheduler")

SCHEDULER_JOB = "SchedulerJob"
TI = models.TaskInstance


@dataclass
class Recovery:
    """What one recovery pass changed."""

    dead_jobs: list[int] = field(default_factory=list)
    requeued: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed)


def dead_scheduler_jobs(
    *, own_job_id: int | None, threshold: dt.timedelta, session: Session
) -> tuple[list[models.Job], set[int]]:
    """(scheduler jobs still marked running that are dead, ids of those alive besides ours)."""
    cutoff = utcnow() - threshold
    host = this_host()
    jobs = session.scalars(
        select(models.Job).where(
            models.Job.job_type == SCHEDULER_JOB,
            models.Job.state == "running",
            models.Job.id != own_job_id,
        )
    ).all()
    dead = [
        job
        for job in jobs
        if job.latest_heartbeat < cutoff
        or (job.hostname == host and process_gone(job.pid, recorded_at=job.start_date))
    ]
    alive = {job.id for job in jobs} - {job.id for job in dead}
    return dead, alive


def recover(
    *,
    own_job_id: int | None,
    executor_name: str,
    running_here: set[TaskKey],
    session: Session,
    handed_over: set[TaskKey] | None = None,
) -> Recovery:
    """One pass in the caller's write transaction; see the module docstring.

    `handed_over` is what this scheduler's executor holds (default `running_here`): an own
    queued attempt in it was not lost, even where the executor cannot vouch that its process
    runs (Celery: the message may wait for a worker; re-sending it is the executor's
    `stalled_task_timeout`, not this)."""
    held = running_here if handed_over is None else handed_over
    now = utcnow()
    threshold = dt.timedelta(
        seconds=get_settings().getint("scheduler", "scheduler_health_check_threshold")
    )
    dead, alive = dead_scheduler_jobs(own_job_id=own_job_id, threshold=threshold, session=session)
    result = Recovery(dead_jobs=[job.id for job in dead])
    for job in dead:
        log.warning("scheduler job %s (pid %s on %s) is dead", job.id, job.pid, job.hostname)
        job.state = "failed"
        job.end_date = now
    live_ids = alive | ({own_job_id} if own_job_id is not None else set())
    orphaned = or_(TI.queued_by_job_id.is_(None), TI.queued_by_job_id.not_in(live_ids))
    pg = is_postgres(session)

    queued = select(TI).where(
        TI.state == TaskState.QUEUED.value, TI.executor == executor_name, orphaned
    )
    for ti in session.scalars(queued.with_for_update(skip_locked=True) if pg else queued):
        _requeue(ti)
        result.requeued += 1
    if own_job_id is not None:
        # Our own queued attempts that our executor does not run: the hand-over was lost (the
        # connection broke as the pass committed, so the pass raised after its commit landed)
        # or the process ended before claiming. Either way nothing runs them.
        own = select(TI).where(
            TI.state == TaskState.QUEUED.value, TI.queued_by_job_id == own_job_id
        )
        for ti in session.scalars(own.with_for_update(skip_locked=True) if pg else own):
            if TaskKey(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number) in held:
                continue
            _requeue(ti)
            result.requeued += 1

    host = this_host()
    running = select(TI).where(
        TI.state == TaskState.RUNNING.value,
        or_(TI.hostname == host, (TI.executor == executor_name) & orphaned),
    )
    for ti in session.scalars(running.with_for_update(skip_locked=True) if pg else running):
        key = TaskKey(ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number)
        if key in running_here:
            continue
        if ti.hostname == host:
            if not process_gone(ti.pid, recorded_at=ti.start_date):
                continue
            reason = f"the task process (pid {ti.pid}) is gone"
        else:
            beat = ti.last_heartbeat_at or ti.start_date
            if beat is not None and beat >= now - threshold:
                continue
            reason = "the scheduler that ran this task stopped, and the task's heartbeat with it"
        fail_dead_attempt(ti, reason, session=session)
        result.failed += 1
    return result


def _requeue(ti: models.TaskInstance) -> None:
    log.info("re-queueing %s.%s %s try %d", ti.dag_id, ti.task_id, ti.run_id, ti.try_number)
    ti.state = TaskState.SCHEDULED.value
    ti.try_number = max(0, ti.try_number - 1)
    ti.queued_by_job_id = None
