"""Task-instance operations (used by the API, meant for the CLI too): finding one, its note,
its attempts ("tries"), why it is not running yet ("dependencies"), clearing task instances
and marking them success/failed/skipped, with Airflow 2's semantics (`clear_task_instances`,
`DAG.set_task_instance_state`).

Functions work on the session they are handed and never commit. They write rows the scheduler
and task processes write too, so every change leaves a state the engine already continues from:

- Cleared task instances get state None (the scheduler schedules them when their upstream
  rules are met); finished runs they belong to go back to `queued` when asked to, so the
  scheduler starts and advances them again.
- A *running* task instance that is cleared becomes `up_for_retry` with its retry two task
  heartbeats away. Its process notices the change at its next heartbeat and
  terminates (its own final write is guarded and cannot overwrite ours); the scheduler then
  starts the next try. Airflow writes `restarting` here, which Aerovane's engine does not
  handle yet; `up_for_retry` is the engine's way of saying "run again once the old attempt is
  gone", and it never lets two attempts of one task instance overlap.
- Marked task instances get an end date and duration; a running one is terminated the same
  way. Failed downstream task instances of a marked one are cleared (as Airflow does), which
  re-queues their finished runs.

Not here: HTTP, and importing the scheduler (the caller hands in the trigger-rule evaluator).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, func, insert, literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import is_postgres
from aerovane.db.notify import wake_on_commit
from aerovane.db.types import storable_integers, utcnow
from aerovane.services.errors import BadRequest, NotFound
from aerovane.services.triggers import clear_deferral
from aerovane.states import ACTIVE_TI_VALUES, FINISHED_TI_VALUES, DagRunState, TaskState

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG

TI = models.TaskInstance
TIH = models.TaskInstanceHistory
DR = models.DagRun

UPDATABLE_STATES = (TaskState.SUCCESS.value, TaskState.FAILED.value, TaskState.SKIPPED.value)
NOTE_MAX_LENGTH = 1000
#: What the trigger-rule evaluator answers when a task may run (`scheduler.trigger_rules`).
TRIGGER_RULE_READY = "ready"

_FINISHED_RUN = frozenset({DagRunState.SUCCESS.value, DagRunState.FAILED.value})
_NOT_STARTED = frozenset({None, TaskState.SCHEDULED.value, TaskState.QUEUED.value})
_STILL_RUNNING = frozenset(
    {
        TaskState.RUNNING.value,
        TaskState.RESTARTING.value,
        TaskState.DEFERRED.value,
        TaskState.UP_FOR_RESCHEDULE.value,
    }
)
_HISTORY_COLUMNS = (
    "dag_id", "task_id", "run_id", "map_index", "try_number", "max_tries", "state", "start_date",
    "end_date", "duration", "hostname", "unixname", "pid", "operator", "pool", "pool_slots",
    "queue", "priority_weight", "queued_dttm", "executor", "task_display_name",
)  # fmt: skip


class TaskInstanceIsMapped(NotFound):
    """The unmapped form of a URL named a task whose instances are mapped."""


def _tis_of(dag_id: str, run_id: str, task_id: str) -> tuple[Any, ...]:
    return (TI.dag_id == dag_id, TI.run_id == run_id, TI.task_id == task_id)


def _with_logical_date(query: Select[Any]) -> Select[Any]:
    return query.join(DR, and_(DR.dag_id == TI.dag_id, DR.run_id == TI.run_id))


# -- one task instance --------------------------------------------------------------------------


def get_task_instance(
    dag_id: str, run_id: str, task_id: str, *, map_index: int | None = None, session: Session
) -> tuple[models.TaskInstance, dt.datetime]:
    """The task instance and its run's logical date.

    `map_index=None` asks for the unmapped task instance: TaskInstanceIsMapped when the task's
    instances are mapped. NotFound when there is no such task instance.
    """
    if map_index is not None and not storable_integers(map_index):
        raise NotFound(f"Task instance {task_id!r} of run {run_id!r} of DAG {dag_id!r} not found")
    query = _with_logical_date(select(TI, DR.logical_date).where(*_tis_of(dag_id, run_id, task_id)))
    if map_index is not None:
        query = query.where(TI.map_index == map_index)
    rows = session.execute(query.limit(2)).all()
    if not rows:
        raise NotFound(f"Task instance {task_id!r} of run {run_id!r} of DAG {dag_id!r} not found")
    if map_index is None and (len(rows) > 1 or rows[0][0].map_index != -1):
        raise TaskInstanceIsMapped("Task instance is mapped, add the map_index value to the URL")
    ti, logical_date = rows[0]
    return ti, logical_date


def set_note(
    dag_id: str, run_id: str, task_id: str, note: str, *, map_index: int, session: Session
) -> tuple[models.TaskInstance, dt.datetime]:
    """Replace the task instance's note (BadRequest above 1000 characters)."""
    if len(note) > NOTE_MAX_LENGTH:
        raise BadRequest(f"{{'note': ['Longer than maximum length {NOTE_MAX_LENGTH}.']}}")
    ti, logical_date = get_task_instance(
        dag_id, run_id, task_id, map_index=map_index, session=session
    )
    ti.note = note
    return ti, logical_date


# -- tries --------------------------------------------------------------------------------------


def tries_query(dag_id: str, run_id: str, task_id: str, map_index: int) -> Select[Any]:
    """Every attempt of one task instance, one row each: the archived earlier tries, and the task
    instance row itself for a try not archived (yet). Columns: `_HISTORY_COLUMNS`, then
    `executor_config` and `archived` (1 for history rows)."""
    history_where = (
        TIH.dag_id == dag_id,
        TIH.run_id == run_id,
        TIH.task_id == task_id,
        TIH.map_index == map_index,
    )
    archived = select(*(getattr(TIH, f) for f in _HISTORY_COLUMNS)).add_columns(
        null().label("executor_config"), literal(1).label("archived")
    )
    current = (
        select(*(getattr(TI, f) for f in _HISTORY_COLUMNS))
        .add_columns(TI.executor_config, literal(0).label("archived"))
        .where(
            *_tis_of(dag_id, run_id, task_id),
            TI.map_index == map_index,
            TI.try_number.not_in(select(TIH.try_number).where(*history_where)),
        )
    )
    return select(union_all(archived.where(*history_where), current).subquery())


def try_state(row: Any) -> str | None:
    """The state to show for an attempt. An archived try that was not finished when archived
    ended without a result of its own (it was retried, cleared or its process died), which
    Airflow records as `failed`."""
    if row.archived and row.state not in FINISHED_TI_VALUES:
        return TaskState.FAILED.value
    return row.state


def task_instance_exists(
    dag_id: str, run_id: str, task_id: str, map_index: int, *, session: Session
) -> bool:
    if not storable_integers(map_index):
        return False
    return (
        session.scalar(
            select(literal(1)).where(*_tis_of(dag_id, run_id, task_id), TI.map_index == map_index)
        )
        is not None
    )


def get_try(
    dag_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int, session: Session
) -> Any:
    """One attempt (a row of `tries_query`); NotFound if there was no such try."""
    row = None
    if storable_integers(map_index, try_number):
        base = tries_query(dag_id, run_id, task_id, map_index).subquery()
        row = session.execute(
            select(base).where(base.c.try_number == try_number).order_by(base.c.archived.desc())
        ).first()
    if row is None:
        raise NotFound(
            f"Task Instance not found for dag_id={dag_id}, run_id={run_id}, task_id={task_id}, "
            f"map_index={map_index}, try_number={try_number}."
        )
    return row


# -- why a task instance is not running ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailedDependency:
    name: str
    reason: str


def _upstream_summary(states: Sequence[str | None]) -> str:
    counts = Counter(states)
    done = sum(n for state, n in counts.items() if state in FINISHED_TI_VALUES)
    return (
        f"_UpstreamTIStates(success={counts[TaskState.SUCCESS.value]}, "
        f"skipped={counts[TaskState.SKIPPED.value]}, failed={counts[TaskState.FAILED.value]}, "
        f"upstream_failed={counts[TaskState.UPSTREAM_FAILED.value]}, "
        f"removed={counts[TaskState.REMOVED.value]}, done={done}, success_setup=0, "
        "skipped_setup=0)"
    )


def _trigger_rule_reason(rule: str, upstream: dict[str, str | None]) -> str:
    """Airflow's TriggerRuleDep wording for a rule that is not met."""
    states = list(upstream.values())
    counts = Counter(states)
    total = len(states)
    success, skipped = counts[TaskState.SUCCESS.value], counts[TaskState.SKIPPED.value]
    failed, up_failed = counts[TaskState.FAILED.value], counts[TaskState.UPSTREAM_FAILED.value]
    done = sum(n for state, n in counts.items() if state in FINISHED_TI_VALUES)
    ids = "{" + ", ".join(repr(t) for t in sorted(upstream)) + "}" if upstream else "set()"
    tail = f"upstream_states={_upstream_summary(states)}, upstream_task_ids={ids}"
    head = f"Task's trigger rule '{rule}' requires"
    messages = {
        "all_success": f"all upstream tasks to have succeeded, but found {total - success} "
        "non-success(es).",
        "all_failed": f"all upstream tasks to have failed, but found "
        f"{total - failed - up_failed} non-failure(s).",
        "all_done": f"all upstream tasks to have completed, but found {total - done} task(s) "
        "that were not done.",
        "one_success": "one upstream task success, but none were found.",
        "one_failed": "one upstream task failure, but none were found.",
        "one_done": "at least one upstream task failure or success but none were failed or "
        "success.",
        "none_failed": "all upstream tasks to have succeeded or been skipped, but found "
        f"{total - success - skipped} non-success(es).",
        "none_skipped": f"all upstream tasks to not have been skipped, but found {skipped} "
        "task(s) skipped.",
        "all_skipped": f"all upstream tasks to have been skipped, but found {total - skipped} "
        "task(s) in non skipped state.",
    }
    messages["none_failed_min_one_success"] = messages["none_failed"]
    if rule not in messages:
        return f"No strategy to evaluate trigger rule '{rule}'."
    return f"{head} {messages[rule]} {tail}"


def blocking_dependencies(
    ti: models.TaskInstance,
    *,
    evaluate_trigger_rule: Callable[[str, Sequence[str | None]], str],
    session: Session,
) -> list[FailedDependency]:
    """Why the scheduler does not run `ti` now, checked the way the scheduler decides (trigger
    rule of its upstream task instances, the run running, the DAG unpaused, a pool slot, the
    DAG's max_active_tasks), named as Airflow names its dependencies; empty when nothing
    blocks it. Only task instances waiting to be scheduled or queued (state None or
    `scheduled`) are asked about, as in Airflow. `evaluate_trigger_rule` is the scheduler's
    evaluator (`aerovane.scheduler.trigger_rules.evaluate`)."""
    if ti.state not in (None, TaskState.SCHEDULED.value):
        return []
    from aerovane.services.dag_bag import get_serialized_dag

    dag = get_serialized_dag(ti.dag_id, session=session)
    task = dag.task_dict.get(ti.task_id) if dag is not None else None
    if task is None:
        return []
    failed: list[FailedDependency] = []
    run_state = session.scalar(
        select(DR.state).where(DR.dag_id == ti.dag_id, DR.run_id == ti.run_id)
    )
    if run_state != DagRunState.RUNNING.value:
        failed.append(
            FailedDependency(
                "Dagrun Running",
                "Task instance's dagrun was not in the 'running' state but in the state "
                f"'{run_state}'.",
            )
        )
    dag_row = session.execute(
        select(models.DagModel.is_paused, models.DagModel.max_active_tasks).where(
            models.DagModel.dag_id == ti.dag_id
        )
    ).first()
    if dag_row is not None and dag_row.is_paused:
        failed.append(FailedDependency("Dag Not Paused", f"Task's DAG '{ti.dag_id}' is paused."))

    upstream: dict[str, str | None] = dict.fromkeys(sorted(task.upstream_task_ids))
    if upstream:
        upstream.update(
            session.execute(
                select(TI.task_id, TI.state).where(
                    TI.dag_id == ti.dag_id,
                    TI.run_id == ti.run_id,
                    TI.map_index == -1,
                    TI.task_id.in_(list(upstream)),
                )
            ).all()
        )
    try:
        decision = evaluate_trigger_rule(task.trigger_rule, list(upstream.values()))
    except ValueError:
        decision = None
    if decision != TRIGGER_RULE_READY:
        failed.append(
            FailedDependency("Trigger Rule", _trigger_rule_reason(task.trigger_rule, upstream))
        )

    slots = session.scalar(select(models.Pool.slots).where(models.Pool.pool == ti.pool))
    if slots is None:
        failed.append(
            FailedDependency(
                "Pool Slots Available",
                f"Tasks using non-existent pool '{ti.pool}' will not be scheduled",
            )
        )
    elif slots >= 0:
        occupied = session.scalar(
            select(func.coalesce(func.sum(TI.pool_slots), 0)).where(
                TI.pool == ti.pool, TI.state.in_(ACTIVE_TI_VALUES)
            )
        )
        open_slots = slots - int(occupied or 0)
        if open_slots < ti.pool_slots:
            failed.append(
                FailedDependency(
                    "Pool Slots Available",
                    f"Not scheduling since there are {open_slots} open slots in pool {ti.pool} "
                    f"and require {ti.pool_slots} pool slots",
                )
            )
    if dag_row is not None:
        active = session.scalar(
            select(func.count()).where(TI.dag_id == ti.dag_id, TI.state.in_(ACTIVE_TI_VALUES))
        )
        if int(active or 0) >= dag_row.max_active_tasks:
            failed.append(
                FailedDependency(
                    "Task Instance Slots Available",
                    f"The maximum number of running tasks ({dag_row.max_active_tasks}) for this "
                    f"task's DAG '{ti.dag_id}' has been reached.",
                )
            )
    return sorted(failed, key=lambda dep: dep.name)


# -- selecting task instances -------------------------------------------------------------------


def task_relatives(
    dag: SerializedDAG, task_ids: Iterable[str], *, upstream: bool, downstream: bool
) -> set[str]:
    """`task_ids` (those in the DAG) plus, transitively, their upstream and/or downstream tasks."""
    found = {t for t in task_ids if t in dag.task_dict}
    for wanted, attr in ((upstream, "upstream_task_ids"), (downstream, "downstream_task_ids")):
        if not wanted:
            continue
        stack = list(found)
        seen: set[str] = set()
        while stack:
            for relative in getattr(dag.task_dict[stack.pop()], attr):
                if relative not in seen and relative in dag.task_dict:
                    seen.add(relative)
                    stack.append(relative)
        found |= seen
    return found


def _select_tis(
    dag_id: str,
    *,
    task_ids: Collection[str] | None,
    start_date: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
    run_ids: Collection[str] | None = None,
    states: Collection[str] | None = None,
    not_state: str | None = None,
    lock: bool,
    session: Session,
) -> list[tuple[models.TaskInstance, dt.datetime]]:
    query = _with_logical_date(select(TI, DR.logical_date).where(TI.dag_id == dag_id))
    if task_ids is not None:
        if not task_ids:
            return []
        query = query.where(TI.task_id.in_(sorted(task_ids)))
    if start_date is not None:
        query = query.where(DR.logical_date >= start_date)
    if end_date is not None:
        query = query.where(DR.logical_date <= end_date)
    if run_ids is not None:
        if not run_ids:
            return []
        query = query.where(TI.run_id.in_(sorted(run_ids)))
    if states:
        query = query.where(TI.state.in_(sorted(states)))
    if not_state is not None:
        query = query.where(or_(TI.state.is_(None), TI.state != not_state))
    if lock and is_postgres(session):
        # Runs before task instances, the order the scheduler takes them in (it locks a run,
        # then updates its task instances), so the two never wait on each other in a cycle.
        if run_ids is None:
            run_ids = set(session.scalars(query.with_only_columns(TI.run_id).distinct()))
            if not run_ids:
                return []
            query = query.where(TI.run_id.in_(sorted(run_ids)))
        session.execute(
            select(DR.id)
            .where(DR.dag_id == dag_id, DR.run_id.in_(sorted(run_ids)))
            .order_by(DR.id)
            .with_for_update()
        )
        query = query.with_for_update(of=TI)
    query = query.order_by(DR.logical_date, TI.task_id, TI.map_index)
    return [(ti, logical_date) for ti, logical_date in session.execute(query).all()]


def find_task_instances_to_clear(
    dag: SerializedDAG,
    *,
    task_ids: Sequence[str] | None = None,
    start_date: dt.datetime | None = None,
    end_date: dt.datetime | None = None,
    only_failed: bool = False,
    only_running: bool = False,
    include_upstream: bool = False,
    include_downstream: bool = False,
    exclude_task_ids: Collection[str] = (),
    include_dependent_dags: bool = False,
    lock: bool = False,
    session: Session,
) -> list[tuple[models.TaskInstance, dt.datetime]]:
    """The task instances `DAG.clear` would clear, with their runs' logical dates.

    `task_ids` None means every task; relatives count only when tasks are named (as in
    Airflow's `partial_subset`). `include_dependent_dags` adds what `ExternalTaskMarker`s among
    them point at in other DAGs. `lock` takes row locks (PostgreSQL) for a clear that follows.
    """
    wanted: set[str] | None = None
    if task_ids is not None:
        wanted = task_relatives(
            dag, task_ids, upstream=include_upstream, downstream=include_downstream
        )
    if exclude_task_ids:
        wanted = (set(dag.task_dict) if wanted is None else wanted) - set(exclude_task_ids)
    states: list[str] = []
    if only_failed:
        states += [TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value]
    if only_running:
        states.append(TaskState.RUNNING.value)
    selected = _select_tis(
        dag.dag_id,
        task_ids=wanted,
        start_date=start_date,
        end_date=end_date,
        states=states,
        lock=lock,
        session=session,
    )
    if not include_dependent_dags:
        return selected
    from aerovane.services.external_markers import dependent_task_instances

    def select_tis(
        dag_id: str, task_ids: Collection[str], run_ids: Collection[str]
    ) -> list[tuple[models.TaskInstance, dt.datetime]]:
        return _select_tis(
            dag_id, task_ids=task_ids, run_ids=run_ids, states=states, lock=lock, session=session
        )

    return selected + dependent_task_instances(
        dag, selected, select_tis=select_tis, session=session
    )


# -- clearing -----------------------------------------------------------------------------------


def _archive_try(ti: models.TaskInstance, now: dt.datetime, *, session: Session) -> None:
    """Record the task instance's current try in its history (once), as Airflow's `record_ti`:
    a try that had not finished is recorded as failed, and one still under way ends now."""
    if ti.try_number < 1:
        return
    exists = session.scalar(
        select(literal(1)).where(
            TIH.dag_id == ti.dag_id,
            TIH.task_id == ti.task_id,
            TIH.run_id == ti.run_id,
            TIH.map_index == ti.map_index,
            TIH.try_number == ti.try_number,
        )
    )
    if exists is not None:
        return
    finished = ti.state in FINISHED_TI_VALUES
    if not finished and (ti.state in _STILL_RUNNING or ti.end_date is None):
        ti.end_date = now
        ti.duration = (now - ti.start_date).total_seconds() if ti.start_date else None
    values = {column: getattr(ti, column) for column in _HISTORY_COLUMNS}
    if ti.state == TaskState.QUEUED.value:
        # Handed to the executor but not started: the row's dates are the previous try's.
        values.update(start_date=None, end_date=now, duration=None)
    if not finished:
        values["state"] = TaskState.FAILED.value
    session.execute(insert(TIH).values(**values))


def queue_for_run(
    ti: models.TaskInstance,
    *,
    force: bool,
    ignore_dependencies: bool,
    evaluate_trigger_rule: Callable[[str, Sequence[str | None]], str],
    queued_by: str,
    session: Session,
) -> None:
    """Make `ti` a new queued try, as the scheduler does before handing it to a worker (for
    `tasks run`). BadRequest when it is already under way, finished (unless `force`, as
    Airflow's `--force`), or, unless `ignore_dependencies`, blocked by its dependencies."""
    name = f"<TaskInstance: {ti.dag_id}.{ti.task_id} {ti.run_id} [{ti.state}]>"
    if ti.state in ACTIVE_TI_VALUES or ti.state in _STILL_RUNNING:
        raise BadRequest(f"{name} is already {ti.state}; wait for it or clear it first")
    if ti.state in FINISHED_TI_VALUES and not force:
        raise BadRequest(
            f"Task is in the '{ti.state}' state which is not a valid state for execution. "
            "The task must be cleared in order to be run (or pass --force)."
        )
    if not ignore_dependencies:
        blocked = blocking_dependencies(
            ti, evaluate_trigger_rule=evaluate_trigger_rule, session=session
        )
        if blocked:
            reasons = "; ".join(f"{dep.name}: {dep.reason}" for dep in blocked)
            raise BadRequest(f"Dependencies not met for {name}: {reasons}")
    now = utcnow()
    _archive_try(ti, now, session=session)
    ti.try_number += 1
    ti.state = TaskState.QUEUED.value
    ti.queued_dttm = now
    ti.queued_by_job_id = None
    ti.executor = queued_by
    ti.pid = None
    ti.next_retry_at = None
    ti.next_method = None
    ti.next_kwargs = None


def restart_delay() -> dt.timedelta:
    """How long a cleared running attempt gets to notice and stop before its next try starts:
    two task heartbeats."""
    return dt.timedelta(seconds=2 * get_settings().getfloat("scheduler", "task_heartbeat_sec"))


def clear_task_instances(
    tis: Sequence[models.TaskInstance],
    *,
    dag: SerializedDAG | None,
    reset_dag_runs: bool,
    session: Session,
) -> None:
    """Airflow's `clear_task_instances`: archive each current try, then state None with
    `max_tries` raised so the task gets its retries again (a running one is restarted instead,
    see the module docstring); finished runs of the cleared task instances go back to
    `queued` when `reset_dag_runs`."""
    now = utcnow()
    retry_at = now + restart_delay()
    for ti in tis:
        _archive_try(ti, now, session=session)
        if ti.state == TaskState.RUNNING.value:
            ti.state = TaskState.UP_FOR_RETRY.value
            ti.next_retry_at = retry_at
            clear_deferral(ti)
            continue
        owner = dag if dag is not None and dag.dag_id == ti.dag_id else None
        if owner is None and dag is not None:  # reached through an ExternalTaskMarker
            from aerovane.services.dag_bag import get_serialized_dag

            owner = get_serialized_dag(ti.dag_id, session=session)
        task = owner.task_dict.get(ti.task_id) if owner is not None else None
        if task is not None:
            ti.max_tries = ti.try_number + task.retries
        else:
            ti.max_tries = max(ti.max_tries, ti.try_number)
        ti.state = None
        ti.next_retry_at = None
        clear_deferral(ti)
    session.flush()
    if tis:
        wake_on_commit(session, "scheduler")
    if not reset_dag_runs or not tis:
        return
    runs_by_dag: dict[str, set[str]] = {}
    for ti in tis:
        runs_by_dag.setdefault(ti.dag_id, set()).add(ti.run_id)
    runs = session.scalars(
        select(DR).where(
            or_(
                *(
                    and_(DR.dag_id == dag_id, DR.run_id.in_(sorted(run_ids)))
                    for dag_id, run_ids in runs_by_dag.items()
                )
            ),
            DR.state.in_(sorted(_FINISHED_RUN)),
        )
    ).all()
    for run in runs:
        run.state = DagRunState.QUEUED.value
        run.queued_at = now
        run.start_date = None
        run.end_date = None
        run.last_scheduling_decision = None
        run.clear_number = (run.clear_number or 0) + 1
    session.flush()


# -- setting states -----------------------------------------------------------------------------


def _mark(ti: models.TaskInstance, state: str, now: dt.datetime) -> None:
    """Set `state` with sensible dates: an attempt that had not started yet starts and ends now;
    one still running ends now; a finished one keeps its times."""
    if ti.state in _NOT_STARTED:
        ti.start_date = ti.end_date = now
    else:
        ti.start_date = ti.start_date or now
        if ti.state in _STILL_RUNNING or ti.end_date is None:
            ti.end_date = now
    ti.duration = (ti.end_date - ti.start_date).total_seconds()
    ti.state = state
    ti.next_retry_at = None
    clear_deferral(ti)


def find_run(
    dag_id: str,
    *,
    run_id: str | None = None,
    logical_date: dt.datetime | None = None,
    session: Session,
) -> models.DagRun | None:
    query = select(DR).where(DR.dag_id == dag_id)
    if run_id is not None:
        query = query.where(DR.run_id == run_id)
    if logical_date is not None:
        query = query.where(DR.logical_date == logical_date)
    return session.scalar(query)


def run_task_instances(dag_id: str, run_id: str, *, session: Session) -> list[models.TaskInstance]:
    """Every task instance of one run, by task id and map index."""
    query = select(TI).where(TI.dag_id == dag_id, TI.run_id == run_id)
    return list(session.scalars(query.order_by(TI.task_id, TI.map_index)))


def _run_ids_between(
    dag_id: str, run: models.DagRun, *, future: bool, past: bool, session: Session
) -> list[str]:
    """The run itself, plus the DAG's runs after it (`future`) and/or before it (`past`)."""
    query = select(DR.run_id).where(DR.dag_id == dag_id)
    if not past:
        query = query.where(DR.logical_date >= run.logical_date)
    if not future:
        query = query.where(DR.logical_date <= run.logical_date)
    return list(session.scalars(query))


def set_task_instance_state(
    dag: SerializedDAG,
    *,
    task_id: str,
    run: models.DagRun,
    state: str,
    map_indexes: Sequence[int] | None = None,
    upstream: bool = False,
    downstream: bool = False,
    future: bool = False,
    past: bool = False,
    commit: bool,
    session: Session,
) -> list[tuple[models.TaskInstance, dt.datetime]]:
    """Airflow's `DAG.set_task_instance_state`: the task instances of `task_id` (and its
    relatives, in this run and/or earlier/later runs) not already in `state`; with `commit`,
    mark them and clear the failed task instances downstream of `task_id` in those runs so the
    scheduler (woken by the commit) resumes them. Returns the task instances it (would) set."""
    if state not in UPDATABLE_STATES:
        raise BadRequest(f"{state!r} is not one of {list(UPDATABLE_STATES)}")
    run_ids = _run_ids_between(dag.dag_id, run, future=future, past=past, session=session)
    relatives = task_relatives(dag, [task_id], upstream=upstream, downstream=downstream)
    selected = _select_tis(
        dag.dag_id,
        task_ids=relatives,
        run_ids=run_ids,
        not_state=state,
        lock=commit,
        session=session,
    )
    if map_indexes is not None:
        selected = [
            (ti, date)
            for ti, date in selected
            if ti.task_id != task_id or ti.map_index in map_indexes
        ]
    if not commit:
        return selected
    now = utcnow()
    for ti, _ in selected:
        _mark(ti, state, now)
    session.flush()
    wake_on_commit(session, "scheduler")
    downstream_ids = task_relatives(dag, [task_id], upstream=False, downstream=True) - {task_id}
    to_clear = _select_tis(
        dag.dag_id,
        task_ids=downstream_ids,
        run_ids=run_ids,
        states=(TaskState.FAILED.value, TaskState.UPSTREAM_FAILED.value),
        lock=True,
        session=session,
    )
    if to_clear:
        clear_task_instances(
            [ti for ti, _ in to_clear], dag=dag, reset_dag_runs=True, session=session
        )
    return selected
