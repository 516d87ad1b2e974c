"""The scheduler loop: one `run_once()` creates due runs, starts queued runs, advances running
runs, queues ready task instances to the executor and handles ended task processes.

It sleeps on a `Wakeup` rather than a fixed poll, so a trigger or a finished task is acted on
within milliseconds; `[scheduler] scheduler_idle_sleep_time` only bounds the idle wait.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import exists, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import create_session, is_postgres
from aerovane.db.types import utcnow
from aerovane.executors.base import BaseExecutor, ProcessEnded, TaskKey
from aerovane.metrics import Stats
from aerovane.scheduler import runs
from aerovane.scheduler.dead_tasks import describe_exit, fail_dead_attempt, find_zombies
from aerovane.scheduler.liveness import this_host
from aerovane.scheduler.orphans import SCHEDULER_JOB, dead_scheduler_jobs, recover
from aerovane.scheduler.queueing import Limits, queue_task_instances
from aerovane.scheduler.wakeup import Wakeup
from aerovane.services.datasets import create_dataset_triggered_runs
from aerovane.services.errors import ServiceError
from aerovane.services.loop_service import LoopService
from aerovane.services.pools import SlotUsage, slot_usage
from aerovane.services.triggers import expire_timed_out
from aerovane.states import ACTIVE_TI_VALUES, DagRunState, TaskState

JOB_TYPE = SCHEDULER_JOB


class SchedulerAlreadyRunning(ServiceError):
    """SQLite takes one scheduler: its write lock serializes them, and `SKIP LOCKED` (what
    keeps two schedulers from choosing the same rows on PostgreSQL) does not exist there."""

    title = "Conflict"


def _held_the_claim(event: ProcessEnded, state: str, hostname: str, pid: int | None) -> bool:
    """Whether the ended process is the one that ran the attempt. Without host and pid in the
    event (the local executor, which forks each key once), any process of the key is. With them
    (Celery, where a message delivered twice forks a second process that claims nothing and
    exits at once), only the process recorded on the running task instance is."""
    if event.pid is None:
        return True
    return state == TaskState.RUNNING.value and (hostname, pid) == (event.hostname, event.pid)


#: States an ended attempt left that Airflow counts in `ti_failures` (`handle_failure`).
_FAILURE_STATES = frozenset({TaskState.FAILED.value, TaskState.UP_FOR_RETRY.value})


class _FinishCounter:
    """Airflow's per-attempt counters, emitted where the loop learns that a process ended.

    Each outcome counts once: a Celery message delivered twice (a re-sent hand-over) ends in
    two processes that report the same recorded outcome (state and end date), and whichever
    exit this scheduler hears of first stands for it. A sensor's pokes and a deferred task's
    resumption share a try but each record an outcome of their own."""

    REMEMBERED = 10_000

    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[TaskKey, str, object], None] = OrderedDict()

    def count(self, key: TaskKey, state: str, ended: object) -> None:
        outcome = (key, state, ended)
        if outcome in self._seen:
            return
        self._seen[outcome] = None
        if len(self._seen) > self.REMEMBERED:
            self._seen.popitem(last=False)
        _count_finished(key.dag_id, key.task_id, state)


def _count_finished(dag_id: str, task_id: str, state: str) -> None:
    Stats.incr("ti.finish", tags={"dag_id": dag_id, "task_id": task_id, "state": state})
    if state == TaskState.SUCCESS.value:
        Stats.incr("ti_successes")
    elif state in _FAILURE_STATES:
        Stats.incr("ti_failures")


@dataclass(frozen=True)
class _Work:
    queued_runs: bool
    running_runs: bool
    due_runs: bool
    dataset_events: bool

    def __bool__(self) -> bool:
        return self.queued_runs or self.running_runs or self.due_runs or self.dataset_events


class Scheduler(LoopService):
    name = "scheduler"

    def __init__(self, executor: BaseExecutor, *, wakeup: Wakeup | None = None) -> None:
        settings = get_settings()
        super().__init__(settings.getfloat("scheduler", "scheduler_idle_sleep_time"))
        self.executor = executor
        self.wakeup = wakeup or Wakeup()
        self.job_id: int | None = None
        self._heartbeat_every = settings.getint("scheduler", "scheduler_heartbeat_sec")
        self._zombie_threshold = dt.timedelta(
            seconds=settings.getint("scheduler", "scheduler_zombie_task_threshold")
        )
        self._orphan_check_every = settings.getfloat("scheduler", "orphaned_tasks_check_interval")
        self._last_heartbeat = 0.0
        self._last_orphan_check = 0.0
        self._grace = settings.getfloat("scheduler", "shutdown_grace_period")
        #: A second stop request: terminate what runs now instead of waiting.
        self._drain_cut = False
        self._trigger_timeout_check_every = settings.getfloat(
            "triggerer", "trigger_timeout_check_interval"
        )
        self._last_trigger_timeout_check = 0.0
        self._finished = _FinishCounter()
        self._pool_metrics_every = settings.getfloat("scheduler", "pool_metrics_interval")
        self._last_pool_metrics = 0.0
        #: When the last pass that advanced runs began: one happens at least every `interval`,
        #: so a run whose task instances all ended gets its state even if no event says so.
        self._last_full_pass = 0.0
        #: The last pass filled every executor slot (a process exit may let more start).
        self._slot_bound = False
        #: The earliest retry the last full pass saw waiting.
        self._next_retry: dt.datetime | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def register(self) -> int:
        """Record this scheduler's job row (once); on SQLite refuse to be a second scheduler.

        On SQLite the check and the insert share one write transaction (`BEGIN IMMEDIATE`), so
        two schedulers starting at once cannot both pass it.
        """
        if self.job_id is not None:
            return self.job_id
        threshold = dt.timedelta(
            seconds=get_settings().getint("scheduler", "scheduler_health_check_threshold")
        )
        with create_session() as session:
            if not is_postgres(session):
                _, alive = dead_scheduler_jobs(
                    own_job_id=None, threshold=threshold, session=session
                )
                if alive:
                    other = session.get(models.Job, min(alive))
                    assert other is not None
                    raise SchedulerAlreadyRunning(
                        f"a scheduler is already running on this SQLite database (job "
                        f"{other.id}, pid {other.pid} on {other.hostname}); SQLite takes one "
                        "scheduler: stop that one first, or use PostgreSQL to run several"
                    )
            job = models.Job(
                job_type=JOB_TYPE,
                hostname=this_host(),
                unixname=getpass.getuser(),
                pid=os.getpid(),
                executor_class=self.executor.name,
            )
            session.add(job)
            session.flush()
            self.job_id = job.id
        return job.id

    def on_start(self) -> None:
        self.register()
        self._last_heartbeat = time.monotonic()
        self.executor.start()
        self._recover_orphans()
        self._last_orphan_check = time.monotonic()
        self.log.info("scheduler started (job %s, executor %s)", self.job_id, self.executor.name)

    def stop(self) -> None:
        """The first call drains (see `on_stop`); a second one cuts the drain short."""
        if self.stopping:
            self._drain_cut = True
        super().stop()

    def on_stop(self) -> None:
        self._drain()
        self.executor.end()
        self._handle_process_ends(self.executor.events())
        with create_session() as session:
            session.execute(
                update(models.Job)
                .where(models.Job.id == self.job_id)
                .values(state="success", end_date=utcnow())
            )
        self.wakeup.close()

    def _drain(self) -> None:
        """Queue nothing more and let the attempts this scheduler started finish, for up to
        `[scheduler] shutdown_grace_period` seconds, recording the exits of those that die on
        the way and keeping the job's heartbeat fresh (so no other scheduler takes over what
        still runs). What runs past the grace period is terminated by `executor.end()`: such
        an attempt records its failure and is retried if it has retries left, as in Airflow."""
        deadline = time.monotonic() + self._grace
        if self.executor.running:
            self.log.info(
                "stopping: waiting up to %.0fs for %d running task(s)",
                self._grace,
                len(self.executor.running),
            )
        while self.executor.running and not self._drain_cut:
            left = deadline - time.monotonic()
            if left <= 0:
                self.log.warning(
                    "stopping: terminating %d task(s) still running", len(self.executor.running)
                )
                break
            try:
                self._handle_process_ends(self.executor.events())
                self._beat()
            except SQLAlchemyError:
                # The database is away: keep waiting for the tasks, which record their own
                # outcomes when it is back (or are judged by the next scheduler).
                self.log.warning("stopping: the metadata database is unavailable", exc_info=True)
            self.wakeup.wait(min(left, self.interval))
        with contextlib.suppress(SQLAlchemyError):
            self._handle_process_ends(self.executor.events())

    def wake(self) -> None:
        self.wakeup.notify()

    def sleep(self, seconds: float) -> None:
        if not self.stopping:
            self.wakeup.wait(seconds)

    # -- the loop -------------------------------------------------------------------------------

    def run_once(self) -> float:
        with Stats.timer("scheduler.scheduler_loop_duration"):
            delay = self._pass()
        executor = self.executor
        running = len(executor.running)
        Stats.gauge("executor.open_slots", executor.open_slots)
        Stats.gauge("executor.queued_tasks", executor.queued_count)
        Stats.gauge("executor.running_tasks", running - executor.queued_count)
        return delay

    def _pass(self) -> float:
        """One pass: settle ended processes, create and advance runs, queue what is ready.

        One read says which steps have anything to do, so a pass woken by a finished task does
        not look for due schedules or dataset events. Advancing and queueing share one write
        transaction; the workloads go to the executor only after it commits, so a task process
        always finds its task instance queued.
        """
        changed = self.wakeup.take_changed()
        fixed = self._handle_process_ends(self.executor.events())
        due = time.monotonic() - self._last_full_pass >= self.interval
        if not (changed or fixed or self._slot_bound or due):
            # Only exits of processes that recorded their own outcome, and each of them woke
            # us when it did, so that pass has already moved their runs on.
            self._periodic()
            return self._delay()
        self._last_full_pass = time.monotonic()
        next_retry: dt.datetime | None = None
        running_keys = frozenset(self.executor.running)
        work = self._pending_work()
        if not work:
            self._next_retry = None
            self._periodic()
            return self.interval
        with create_session() as session:
            if work.due_runs:
                runs.create_scheduled_runs(session=session)
            if work.dataset_events:
                create_dataset_triggered_runs(session=session)
            if work.due_runs or work.dataset_events or work.queued_runs:
                runs.start_queued_runs(session=session)
            session.flush()
            for run in self._running_runs(session):
                progress = runs.advance_run(run, session=session)
                if progress.next_retry_at and (
                    next_retry is None or progress.next_retry_at < next_retry
                ):
                    next_retry = progress.next_retry_at
            session.flush()
            limits = Limits(executor_slots=self.executor.open_slots, busy=running_keys)
            workloads = queue_task_instances(
                limits=limits,
                job_id=self.job_id,
                executor_name=self.executor.name,
                session=session,
            )
        # With every executor slot taken (or a sensor's next poke waiting for its previous
        # process to exit), what waits starts when a process exits.
        self._slot_bound = len(workloads) >= limits.executor_slots or limits.held_back
        for workload in workloads:
            self.executor.queue_workload(workload)
        self._periodic()
        self._next_retry = next_retry
        return self._delay()

    def _delay(self) -> float:
        """Sleep until the next idle check, or the earliest retry the last pass saw, if sooner."""
        if self._next_retry is None:
            return self.interval
        return min(self.interval, max(0.0, (self._next_retry - utcnow()).total_seconds()))

    def _pending_work(self) -> _Work:
        """Read-only, one statement: which kinds of work exist right now."""
        now = utcnow()
        with create_session(readonly=True) as session:
            row = session.execute(
                select(
                    exists().where(models.DagRun.state == DagRunState.QUEUED.value),
                    exists().where(
                        models.DagRun.state == DagRunState.RUNNING.value, runs.scheduler_owned()
                    ),
                    exists().where(
                        models.DagModel.next_dagrun_create_after <= now,
                        models.DagModel.is_paused.is_(False),
                    ),
                    exists().where(models.DatasetDagRunQueue.target_dag_id.is_not(None)),
                )
            ).one()
        return _Work(*(bool(flag) for flag in row))

    def _running_runs(self, session: Session) -> list[models.DagRun]:
        query = (
            select(models.DagRun)
            .where(models.DagRun.state == DagRunState.RUNNING.value, runs.scheduler_owned())
            .order_by(models.DagRun.last_scheduling_decision.nulls_first(), models.DagRun.id)
            .limit(200)
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        return list(session.scalars(query))

    def _handle_process_ends(self, events: list[ProcessEnded]) -> int:
        """Fail or retry attempts whose process ended without recording an outcome.

        Almost always every attempt recorded its own outcome, so one read-only query settles
        the whole batch and the write lock is taken only when something needs fixing. Returns
        how many attempts were failed or retried here.
        """
        if not events:
            return 0
        ti = models.TaskInstance
        keys = {
            (e.key.dag_id, e.key.task_id, e.key.run_id, e.key.map_index, e.key.try_number): e
            for e in events
        }
        with create_session(readonly=True) as session:
            rows = session.execute(
                select(
                    ti.dag_id,
                    ti.task_id,
                    ti.run_id,
                    ti.map_index,
                    ti.try_number,
                    ti.state,
                    ti.hostname,
                    ti.pid,
                    ti.end_date,
                ).where(
                    ti.run_id.in_({k[2] for k in keys}),
                    ti.task_id.in_({k[1] for k in keys}),
                    ti.map_index.in_({k[3] for k in keys}),
                )
            ).all()
        # A key the executor runs again is a rescheduled sensor's next poke, already started.
        running_now = self.executor.running
        active = []
        for row in rows:
            event = keys.get(tuple(row[:5]))
            if event is None or event.key in running_now:
                continue
            if row.state in ACTIVE_TI_VALUES:
                active.append(row)
            elif row.state is not None:
                self._finished.count(event.key, row.state, row.end_date)
        dead = [
            keys[tuple(row[:5])]
            for row in active
            if _held_the_claim(keys[tuple(row[:5])], row.state, row.hostname, row.pid)
        ]
        if not dead:
            return 0
        ended: list[tuple[TaskKey, str, object]] = []
        with create_session() as session:
            for event in dead:
                k = event.key
                row = session.scalar(
                    select(ti).where(
                        ti.dag_id == k.dag_id,
                        ti.task_id == k.task_id,
                        ti.run_id == k.run_id,
                        ti.map_index == k.map_index,
                        ti.try_number == k.try_number,
                        ti.state.in_(ACTIVE_TI_VALUES),
                    )
                )
                if row is not None:
                    state = fail_dead_attempt(row, describe_exit(event.code), session=session)
                    ended.append((k, state, row.end_date))
        for key, state, end_date in ended:
            self._finished.count(key, state, end_date)
        return len(dead)

    def _periodic(self) -> None:
        now = time.monotonic()
        self._beat()
        if now - self._last_pool_metrics >= self._pool_metrics_every:
            self._last_pool_metrics = now
            self._emit_pool_metrics()
        if now - self._last_trigger_timeout_check >= self._trigger_timeout_check_every:
            self._last_trigger_timeout_check = now
            with create_session() as session:
                expired = expire_timed_out(session=session)
            if expired:
                self.log.info("%d deferred task instance(s) timed out", expired)
                self.wakeup.notify()
        if now - self._last_orphan_check >= self._orphan_check_every:
            self._last_orphan_check = now
            self._recover_orphans()
            with create_session() as session:
                running_here = self._spared()
                for ti in find_zombies(threshold=self._zombie_threshold, session=session):
                    key_match = any(
                        k.dag_id == ti.dag_id
                        and k.task_id == ti.task_id
                        and k.run_id == ti.run_id
                        and k.try_number == ti.try_number
                        for k in running_here
                    )
                    if not key_match:
                        fail_dead_attempt(
                            ti, "the task's heartbeat stopped (zombie)", session=session
                        )

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat >= self._heartbeat_every:
            self._last_heartbeat = now
            with create_session() as session:
                session.execute(
                    update(models.Job)
                    .where(models.Job.id == self.job_id)
                    .values(latest_heartbeat=utcnow())
                )
            Stats.incr("scheduler_heartbeat", 1, 1)

    def _emit_pool_metrics(self) -> None:
        """Slots per pool, every `[scheduler] pool_metrics_interval` (two grouped reads), as
        Airflow's `_emit_pool_metrics`."""
        with create_session(readonly=True) as session:
            pools = session.execute(
                select(models.Pool.pool, models.Pool.slots, models.Pool.include_deferred)
            ).all()
            usage = slot_usage([p.pool for p in pools], session=session)
        empty = SlotUsage()
        for name, slots, include_deferred in pools:
            used = usage.get(name, empty)
            tags = {"pool_name": name}
            Stats.gauge("pool.open_slots", used.open(slots, include_deferred), tags=tags)
            Stats.gauge("pool.queued_slots", used.queued, tags=tags)
            Stats.gauge("pool.running_slots", used.running, tags=tags)
            Stats.gauge("pool.deferred_slots", used.deferred, tags=tags)
            Stats.gauge("pool.scheduled_slots", used.scheduled, tags=tags)

    def _spared(self) -> set[TaskKey]:
        """Attempts the dead-task checks leave alone: those whose process this executor sees
        alive. An executor of other hosts' processes cannot vouch for any (a lost worker never
        reports), so the heartbeat and the pid (on this host) decide."""
        return self.executor.running if self.executor.sees_every_exit else set()

    def _recover_orphans(self) -> None:
        """Reset or fail what dead schedulers and vanished task processes left (`orphans`);
        when that changed anything, wake the loop so the next pass re-queues and advances."""
        with create_session() as session:
            recovered = recover(
                own_job_id=self.job_id,
                executor_name=self.executor.name,
                running_here=self._spared(),
                handed_over=self.executor.running,
                session=session,
            )
        if recovered:
            self.log.info(
                "recovered orphans: %d re-queued, %d failed or retried (dead jobs: %s)",
                recovered.requeued,
                recovered.failed,
                recovered.dead_jobs or "none",
            )
            self.wakeup.notify()
