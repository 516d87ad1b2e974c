"""Run-level decisions: creating scheduled runs, starting queued ones, and advancing a running
run — settling task instances by trigger rule, retrying, and deciding the run's outcome."""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import is_postgres
from aerovane.db.types import utcnow
from aerovane.logs.context import ids
from aerovane.metrics import Stats
from aerovane.scheduler import trigger_rules
from aerovane.services import task_mapping
from aerovane.services.callbacks import request_dag_callback
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.dag_runs import create_dag_run, create_task_instances, generate_run_id
from aerovane.services.errors import AlreadyExists
from aerovane.states import (
    FINISHED_TI_VALUES,
    TEST_RUN_TRIGGER,
    DagRunState,
    DagRunType,
    TaskState,
)

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG

log = logging.getLogger("aerovane.scheduler")

TI = models.TaskInstance
#: Task states that wait for `next_retry_at` before the scheduler schedules them again.
_WAITING = frozenset({TaskState.UP_FOR_RETRY.value, TaskState.UP_FOR_RESCHEDULE.value})
RUNNING = DagRunState.RUNNING.value
QUEUED = DagRunState.QUEUED.value


def active_run_counts(session: Session, dag_ids: list[str]) -> Counter[str]:
    rows = session.execute(
        select(models.DagRun.dag_id, func.count())
        .where(models.DagRun.dag_id.in_(dag_ids), models.DagRun.state == RUNNING)
        .group_by(models.DagRun.dag_id)
    )
    return Counter({dag_id: n for dag_id, n in rows})


def create_scheduled_runs(*, session: Session) -> int:
    """Create the runs whose data interval has ended; return how many were created."""
    settings = get_settings()
    now = utcnow()
    query = (
        select(models.DagModel)
        .where(
            models.DagModel.is_paused.is_(False),
            models.DagModel.is_active.is_(True),
            models.DagModel.has_import_errors.is_(False),
            models.DagModel.next_dagrun_create_after <= now,
        )
        .order_by(models.DagModel.next_dagrun_create_after)
        .limit(settings.getint("scheduler", "max_dagruns_to_create_per_loop"))
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    dags = list(session.scalars(query))
    if not dags:
        return 0
    active = active_run_counts(session, [d.dag_id for d in dags])
    created = 0
    for dag_model in dags:
        dag = get_serialized_dag(dag_model.dag_id, session=session)
        if dag is None or dag_model.next_dagrun is None:
            continue
        if active[dag_model.dag_id] >= dag_model.max_active_runs:
            continue
        from aerovane.authoring.timetables import DataInterval

        interval = DataInterval(
            dag_model.next_dagrun_data_interval_start or dag_model.next_dagrun,
            dag_model.next_dagrun_data_interval_end or dag_model.next_dagrun,
        )
        try:
            create_dag_run(
                dag,
                run_id=generate_run_id(DagRunType.SCHEDULED, dag_model.next_dagrun),
                logical_date=dag_model.next_dagrun,
                data_interval=interval,
                run_type=DagRunType.SCHEDULED,
                conf=None,
                external_trigger=False,
                session=session,
            )
            created += 1
        except AlreadyExists:
            log.info("run for %s at %s exists; moving on", dag.dag_id, dag_model.next_dagrun)
        set_next_dagrun(dag_model, dag, last_interval=interval)
    return created


def set_next_dagrun(
    dag_model: models.DagModel, dag: SerializedDAG, *, last_interval: object | None
) -> None:
    """Fill the dag row's next_dagrun* fields from the timetable."""
    info = dag.timetable.next_dagrun_info(
        last_automated_data_interval=last_interval, restriction=dag.time_restriction
    )
    if info is None:
        dag_model.next_dagrun = None
        dag_model.next_dagrun_data_interval_start = None
        dag_model.next_dagrun_data_interval_end = None
        dag_model.next_dagrun_create_after = None
        return
    dag_model.next_dagrun = info.data_interval.start
    dag_model.next_dagrun_data_interval_start = info.data_interval.start
    dag_model.next_dagrun_data_interval_end = info.data_interval.end
    dag_model.next_dagrun_create_after = info.run_after


def start_queued_runs(*, session: Session) -> list[models.DagRun]:
    """Move queued runs to running while their DAG is under max_active_runs.

    On PostgreSQL the rows of the DAGs concerned are locked first (`SKIP LOCKED`): two
    schedulers counting one DAG's running runs at once could each start one past its limit,
    so a DAG another scheduler holds is left to that scheduler (or to the next pass).
    """
    query = (
        select(models.DagRun)
        .join(models.DagModel, models.DagModel.dag_id == models.DagRun.dag_id)
        .where(models.DagRun.state == QUEUED, models.DagModel.is_paused.is_(False))
        .order_by(models.DagRun.queued_at, models.DagRun.id)
        .limit(100)
    )
    if is_postgres(session):
        held = (
            select(models.DagModel.dag_id)
            .where(
                models.DagModel.dag_id.in_(
                    select(models.DagRun.dag_id).where(models.DagRun.state == QUEUED).distinct()
                )
            )
            .order_by(models.DagModel.dag_id)
            .with_for_update(skip_locked=True)
        )
        dag_ids_held = list(session.scalars(held))
        if not dag_ids_held:
            return []
        query = query.where(models.DagRun.dag_id.in_(dag_ids_held)).with_for_update(
            of=models.DagRun, skip_locked=True
        )
    queued = list(session.scalars(query))
    if not queued:
        return []
    dag_ids = sorted({r.dag_id for r in queued})
    active = active_run_counts(session, dag_ids)
    limits = dict(
        session.execute(
            select(models.DagModel.dag_id, models.DagModel.max_active_runs).where(
                models.DagModel.dag_id.in_(dag_ids)
            )
        ).all()
    )
    started = []
    now = utcnow()
    for run in queued:
        if active[run.dag_id] >= limits.get(run.dag_id, 16):
            continue
        run.state = RUNNING
        run.start_date = now
        active[run.dag_id] += 1
        started.append(run)
    return started


class _Shape:
    """What the scheduler needs of a DAG version's graph, computed once: the topological
    order, the tasks that decide the run's state (leaves, teardowns ignored unless
    `on_failure_fail_dagrun`), and per task its setup upstreams and relevant indirect setups."""

    __slots__ = ("direct_setups", "indirect_setups", "order", "state_leaves")

    def __init__(self, dag: SerializedDAG) -> None:
        tasks = dag.task_dict
        indegree = {t: len(task.upstream_task_ids) for t, task in tasks.items()}
        ready = [t for t, n in indegree.items() if n == 0]
        order: list[str] = []
        while ready:
            task_id = ready.pop()
            order.append(task_id)
            for child in tasks[task_id].downstream_task_ids:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        self.order = order
        self.state_leaves = _state_leaves(dag)
        self.direct_setups: dict[str, list[str]] = {}
        self.indirect_setups: dict[str, list[str]] = {}
        if any(task.is_setup for task in tasks.values()):
            for task_id, task in tasks.items():
                direct = [u for u in task.upstream_task_ids if tasks[u].is_setup]
                if direct:
                    self.direct_setups[task_id] = direct
                if not task.is_teardown:
                    indirect = [
                        s for s in _relevant_setups(dag, task_id) if s not in task.upstream_task_ids
                    ]
                    if indirect:
                        self.indirect_setups[task_id] = indirect


def _flat(dag: SerializedDAG, task_id: str, *, upstream: bool) -> set[str]:
    found: set[str] = set()
    stack = [task_id]
    while stack:
        task = dag.task_dict[stack.pop()]
        for other in task.upstream_task_ids if upstream else task.downstream_task_ids:
            if other not in found:
                found.add(other)
                stack.append(other)
    return found


def _relevant_setups(dag: SerializedDAG, task_id: str) -> list[str]:
    """Setups upstream of the task that have no teardown, or one downstream of the task
    (Airflow's `get_upstreams_only_setups`)."""
    tasks = dag.task_dict
    teardowns_after = {t for t in _flat(dag, task_id, upstream=False) if tasks[t].is_teardown}
    relevant = []
    for up in _flat(dag, task_id, upstream=True):
        setup = tasks[up]
        if not setup.is_setup:
            continue
        own_teardowns = {d for d in setup.downstream_task_ids if tasks[d].is_teardown}
        if not own_teardowns or own_teardowns & teardowns_after:
            relevant.append(up)
    return relevant


def _state_leaves(dag: SerializedDAG) -> list[str]:
    """Tasks whose states decide the run's (Airflow's `_tis_for_dagrun_state`)."""
    tasks = dag.task_dict

    def counts(task_id: str) -> bool:
        task = tasks[task_id]
        return not task.is_teardown or task.on_failure_fail_dagrun

    leaves = [
        t
        for t, task in tasks.items()
        if counts(t) and not any(counts(d) for d in task.downstream_task_ids)
    ]
    return leaves or [t for t, task in tasks.items() if not task.downstream_task_ids]


_shapes: weakref.WeakKeyDictionary[SerializedDAG, _Shape] = weakref.WeakKeyDictionary()


def _shape(dag: SerializedDAG) -> _Shape:
    cached = _shapes.get(dag)
    if cached is None:
        cached = _shapes[dag] = _Shape(dag)
    return cached


class RunProgress:
    """What one pass over a running run decided."""

    def __init__(self) -> None:
        self.next_retry_at: dt.datetime | None = None
        self.finished: str | None = None


def scheduler_owned() -> ColumnElement[bool]:
    """Runs a scheduler drives: every run but those `dag.test()` drives in its own process."""
    return or_(models.DagRun.triggered_by.is_(None), models.DagRun.triggered_by != TEST_RUN_TRIGGER)


def advance_run(
    run: models.DagRun, *, session: Session, dag: SerializedDAG | None = None
) -> RunProgress:
    """Settle and schedule the run's task instances; finish the run when nothing is left.

    `dag` is the DAG to advance by (default: its stored serialized version); `dag.test()`
    passes the DAG it is running.

    Works on (task_id, state) rows and writes with guarded bulk updates (`WHERE state IS NULL`
    and the like), so a task process that changed a row meanwhile (e.g. a branch skipping
    tasks) is never overwritten, and a 1,000-task run costs one query, not 1,000 objects.
    """
    progress = RunProgress()
    now = utcnow()
    if dag is None:
        dag = get_serialized_dag(run.dag_id, session=session)
    if dag is None:
        log.error(
            "run %s of %s: DAG not found; failing the run", run.run_id, run.dag_id, extra=ids(run)
        )
        _finish(run, DagRunState.FAILED, now)
        progress.finished = DagRunState.FAILED.value
        return progress
    ti_where = (TI.dag_id == run.dag_id, TI.run_id == run.run_id)
    rows = session.execute(
        select(TI.task_id, TI.map_index, TI.state, TI.next_retry_at).where(*ti_where)
    ).all()
    # The states of each task's instances by map index (-1 alone for an unmapped task, or
    # for a mapped one not expanded yet).
    by_task: dict[str, dict[int, str | None]] = {}
    for r in rows:
        by_task.setdefault(r.task_id, {})[r.map_index] = r.state
    if run.dag_hash != dag.dag_hash:
        states = {t: _summary(v) for t, v in by_task.items()}
        _verify_integrity(run, dag, states, session=session)
        for task_id, state in states.items():
            if task_id not in by_task:
                by_task[task_id] = {-1: state}
            elif state == TaskState.REMOVED.value:
                by_task[task_id] = dict.fromkeys(by_task[task_id], state)

    timeout = dag.dagrun_timeout
    if timeout is not None and run.start_date is not None and now - run.start_date > timeout:
        log.info("run %s of %s timed out", run.run_id, run.dag_id, extra=ids(run))
        session.execute(
            update(TI)
            .where(*ti_where, or_(TI.state.is_(None), TI.state.not_in(FINISHED_TI_VALUES)))
            .values(state=TaskState.SKIPPED.value, end_date=now)
        )
        _finish(run, DagRunState.FAILED, now, dag=dag, reason="timed_out", session=session)
        progress.finished = DagRunState.FAILED.value
        return progress

    retry_at = {(r.task_id, r.map_index): r.next_retry_at for r in rows if r.state in _WAITING}
    changes: dict[str, list[str]] = {}
    due: dict[str, list[tuple[str, int]]] = {}
    expanded = False
    shape = _shape(dag)
    for task_id in shape.order:
        instances = by_task.get(task_id)
        if instances is None:
            continue
        for map_index, state in instances.items():
            if state not in _WAITING:
                continue
            when = retry_at.get((task_id, map_index))
            if when is None or when <= now:
                due.setdefault(state, []).append((task_id, map_index))
                instances[map_index] = TaskState.SCHEDULED.value
            elif progress.next_retry_at is None or when < progress.next_retry_at:
                progress.next_retry_at = when
        if all(state is not None for state in instances.values()):
            continue
        task = dag.task_dict[task_id]
        decision = None
        indirect = shape.indirect_setups.get(task_id)
        if indirect:
            decision = trigger_rules.evaluate_setup_constraint(_states_of(by_task, indirect))
        if decision is None:
            decision = trigger_rules.evaluate(
                str(task.trigger_rule),
                _states_of(by_task, task.upstream_task_ids),
                _states_of(by_task, shape.direct_setups.get(task_id, ())),
            )
        if decision == trigger_rules.READY and task.is_mapped and list(instances) == [-1]:
            new, length = task_mapping.expand(run, task, session=session)
            by_task[task_id] = {i: new for i in range(length)} if length else {-1: new}
            expanded = True
            continue
        if decision == trigger_rules.READY and task.is_mapped:
            # Cleared instances of an expanded task: its length may have changed since.
            revised = task_mapping.revise(run, task, session=session)
            expanded = expanded or revised.keys() != instances.keys()
            by_task[task_id] = instances = revised
        if decision == trigger_rules.READY:
            new = TaskState.SUCCESS.value if task.is_empty else TaskState.SCHEDULED.value
        elif decision in (trigger_rules.SKIPPED, trigger_rules.UPSTREAM_FAILED):
            new = decision
        else:
            continue
        for map_index, state in instances.items():
            if state is None:
                instances[map_index] = new
        changes.setdefault(new, []).append(task_id)

    for new, task_ids in changes.items():
        values: dict[str, object] = {"state": new, "next_retry_at": None}
        if new != TaskState.SCHEDULED.value:
            values.update(start_date=now, end_date=now, duration=0.0)
        for chunk in _chunks(task_ids):
            session.execute(
                update(TI)
                .where(*ti_where, TI.task_id.in_(chunk), TI.state.is_(None))
                .values(**values)
            )
    for state, keys in due.items():
        # A retry starts a new try; a reschedule resumes the same one, which queueing tells by
        # the reschedule date left in next_retry_at.
        values = {"state": TaskState.SCHEDULED.value}
        if state == TaskState.UP_FOR_RETRY.value:
            values["next_retry_at"] = None
        for task_id, map_index in keys:
            session.execute(
                update(TI)
                .where(
                    *ti_where,
                    TI.task_id == task_id,
                    TI.map_index == map_index,
                    TI.state == state,
                )
                .values(**values)
            )

    values_now = [s for instances in by_task.values() for s in instances.values()]
    if all(s in FINISHED_TI_VALUES for s in values_now):
        leaves = _states_of(by_task, shape.state_leaves)
        failed = any(s in (TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value) for s in leaves)
        outcome = DagRunState.FAILED if failed else DagRunState.SUCCESS
        reason = "task_failure" if failed else "success"
        _finish(run, outcome, now, dag=dag, reason=reason, session=session)
        progress.finished = outcome.value
    elif (
        all(s in FINISHED_TI_VALUES or s is None for s in values_now)
        and not changes
        and not expanded
    ):
        log.error(
            "run %s of %s is deadlocked: no task can run; failing it",
            run.run_id,
            run.dag_id,
            extra=ids(run),
        )
        _finish(
            run, DagRunState.FAILED, now, dag=dag, reason="all_tasks_deadlocked", session=session
        )
        progress.finished = DagRunState.FAILED.value
    run.last_scheduling_decision = now
    return progress


def _summary(states: dict[int, str | None]) -> str | None:
    """One state for a task's instances: the first unfinished one, else any."""
    for state in states.values():
        if state not in FINISHED_TI_VALUES:
            return state
    return next(iter(states.values()))


_REMOVED = TaskState.REMOVED.value


def _states_of(
    by_task: dict[str, dict[int, str | None]], task_ids: Iterable[str]
) -> list[str | None]:
    """The states of every instance (every map index) of `task_ids`; None for a missing task.
    Map indexes `removed` when a cleared mapped task shrank are not counted."""
    out: list[str | None] = []
    for task_id in task_ids:
        for map_index, state in by_task.get(task_id, {-1: None}).items():
            if map_index < 0 or state != _REMOVED:
                out.append(state)
    return out


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _finish(
    run: models.DagRun,
    state: DagRunState,
    now: dt.datetime,
    *,
    dag: SerializedDAG | None = None,
    reason: str = "",
    session: Session | None = None,
) -> None:
    """End the run; if the DAG has a callback for this outcome, queue it for the DAG
    processor in the same transaction."""
    run.state = state.value
    run.end_date = now
    log.info("Marking run %s of %s %s", run.run_id, run.dag_id, state.value, extra=ids(run))
    if run.start_date is not None:
        Stats.timing(
            "dagrun.duration",
            now - run.start_date,
            tags={"dag_id": run.dag_id, "state": state.value},
        )
    if dag is None or session is None:
        return
    is_failure = state == DagRunState.FAILED
    wanted = "has_on_failure_callback" if is_failure else "has_on_success_callback"
    if dag.data.get(wanted):
        request_dag_callback(
            dag_id=run.dag_id,
            run_id=run.run_id,
            fileloc=dag.fileloc,
            is_failure=is_failure,
            msg=reason,
            session=session,
        )


def _verify_integrity(
    run: models.DagRun,
    dag: SerializedDAG,
    states: dict[str, str | None],
    *,
    session: Session,
) -> None:
    """The DAG changed since the run was created: add new tasks, mark vanished ones removed."""
    missing = [t for t in dag.task_dict if t not in states]
    if missing:
        create_task_instances(_SubsetDag(dag, missing), run, session=session)  # type: ignore[arg-type]
        session.flush()
        states.update(dict.fromkeys(missing))
    vanished = [
        t for t, s in states.items() if t not in dag.task_dict and s not in FINISHED_TI_VALUES
    ]
    for chunk in _chunks(vanished):
        session.execute(
            update(TI)
            .where(TI.dag_id == run.dag_id, TI.run_id == run.run_id, TI.task_id.in_(chunk))
            .values(state=TaskState.REMOVED.value)
        )
    for task_id in vanished:
        states[task_id] = TaskState.REMOVED.value
    run.dag_hash = dag.dag_hash


class _SubsetDag:
    """Just enough of a SerializedDAG for create_task_instances over some tasks."""

    def __init__(self, dag: SerializedDAG, task_ids: list[str]) -> None:
        self.dag_id = dag.dag_id
        self.task_dict = {t: dag.task_dict[t] for t in task_ids}
