"""DAG runs: creating them (manual triggers, idempotent triggers and scheduled runs) with their
task instances, and changing them from outside the scheduler (state, clear, note, delete).

`trigger` is the one call for a manual run (API, UI, CLI): it is checked first
(`plan_manual_run`: only reads, where `db.writes.reads_for` says) and then inserted
(`insert_manual_run`: a DAG re-check if the reads were made elsewhere, and two INSERTs), so
SQLite's write lock is held for the inserts alone; the schedulers are woken by the commit
(`db.notify.wake_on_commit`). `trigger_dag_run` does both in one session and returns the ORM
object.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from sqlalchemy import and_, bindparam, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db import writes as db_writes
from aerovane.db.engine import is_postgres
from aerovane.db.notify import wake_on_commit
from aerovane.db.types import utcnow
from aerovane.services import strict_json
from aerovane.services.dag_bag import get_serialized_dag, serialized_dag_version
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound
from aerovane.services.triggers import clear_deferral
from aerovane.states import FINISHED_TI_VALUES, DagRunState, DagRunType, TaskState

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG
    from aerovane.authoring.timetables import DataInterval


def generate_run_id(run_type: DagRunType, logical_date: dt.datetime) -> str:
    return f"{run_type.value}__{logical_date.isoformat()}"


def create_task_instances(dag: SerializedDAG, run: models.DagRun, *, session: Session) -> None:
    """One task instance per task, state None, as Airflow's verify_integrity creates them."""
    session.add_all(
        models.TaskInstance(**row) for row in task_instance_rows(dag, run.dag_id, run.run_id)
    )


def create_dag_run(
    dag: SerializedDAG,
    *,
    run_id: str,
    logical_date: dt.datetime,
    data_interval: DataInterval,
    run_type: DagRunType,
    conf: dict[str, Any] | None,
    external_trigger: bool,
    state: DagRunState = DagRunState.QUEUED,
    note: str | None = None,
    triggered_by: str | None = None,
    idempotency_key: str | None = None,
    session: Session,
) -> models.DagRun:
    """Insert the run and its task instances; raise AlreadyExists on a duplicate id, date or
    idempotency key."""
    now = utcnow()
    run = models.DagRun(
        dag_id=dag.dag_id,
        run_id=run_id,
        logical_date=logical_date,
        data_interval_start=data_interval.start,
        data_interval_end=data_interval.end,
        run_type=run_type.value,
        external_trigger=external_trigger,
        conf=conf or {},
        state=state.value,
        queued_at=now,
        dag_hash=dag.dag_hash,
        note=note,
        triggered_by=triggered_by,
        idempotency_key=idempotency_key,
    )
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
            create_task_instances(dag, run, session=session)
            session.flush()
    except IntegrityError:
        raise AlreadyExists(
            f"DAGRun with DAG ID: '{dag.dag_id}' and DAGRun ID: '{run_id}' or logical date "
            f"'{logical_date.isoformat()}' already exists"
        ) from None
    return run


def trigger_dag_run(
    dag_id: str,
    *,
    run_id: str | None = None,
    logical_date: dt.datetime | None = None,
    data_interval: tuple[dt.datetime, dt.datetime] | None = None,
    conf: dict[str, Any] | None = None,
    note: str | None = None,
    triggered_by: str | None = None,
    idempotency_key: str | None = None,
    session: Session,
) -> models.DagRun:
    """A manual run, validated as Airflow's POST dagRuns validates it.

    Raises NotFound (unknown or inactive DAG), BadRequest (import errors, bad run id, params that
    fail validation) or AlreadyExists (duplicate run id or logical date).

    With an `idempotency_key`, the run this DAG already has with that key is returned instead of
    a new one, so a client may retry a trigger whose response it never saw; the same key with a
    different request (conf, run id, logical date, data interval) is AlreadyExists.
    """
    plan = plan_manual_run(
        dag_id,
        run_id=run_id,
        logical_date=logical_date,
        data_interval=data_interval,
        conf=conf,
        note=note,
        triggered_by=triggered_by,
        idempotency_key=idempotency_key,
        session=session,
    )
    if isinstance(plan, models.DagRun):
        return plan
    from aerovane.authoring.timetables import DataInterval

    dag, run_id, logical_date = plan.dag, plan.run_id, plan.logical_date
    for _ in range(1000):
        if data_interval is not None:
            interval = DataInterval(*data_interval)
        else:
            interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
        try:
            return create_dag_run(
                dag,
                run_id=run_id,
                logical_date=logical_date,
                data_interval=interval,
                run_type=DagRunType.MANUAL,
                conf=conf,
                external_trigger=True,
                note=note,
                triggered_by=triggered_by,
                idempotency_key=idempotency_key,
                session=session,
            )
        except AlreadyExists:
            if idempotency_key is not None:
                # A concurrent request with the same key may have just committed its run.
                existing = _run_with_idempotency_key(dag_id, idempotency_key, session=session)
                if existing is not None:
                    return plan.request.check_replay_of(existing)
            if not plan.auto:
                raise
        # Neither id nor date was given: another trigger took this microsecond. Take the next
        # one, so simultaneous triggers never collide.
        logical_date += dt.timedelta(microseconds=1)
        run_id = generate_run_id(DagRunType.MANUAL, logical_date)
    raise AlreadyExists(f"could not find a free logical date for a run of {dag_id!r}")


class TriggerRequest(TypedDict, total=False):
    """What a manual trigger may name besides its DAG (see `trigger_dag_run`)."""

    run_id: str | None
    logical_date: dt.datetime | None
    data_interval: tuple[dt.datetime, dt.datetime] | None
    conf: dict[str, Any] | None
    note: str | None
    triggered_by: str | None
    idempotency_key: str | None


def trigger(
    dag_id: str, *, session: Session, **request: Unpack[TriggerRequest]
) -> NewRun | models.DagRun:
    """Create a manual run in `session`'s transaction, and wake the schedulers when it commits;
    the run an earlier trigger with the same `idempotency_key` created is returned as it is.
    Raises as `trigger_dag_run`.

    On SQLite inside `db.writes.nowait_writes()` it raises WriteLockBusy, having written
    nothing, when the write lock is taken: call it again later, with the same session, which
    remembers the checked plan meanwhile (the DAG is checked again in the write transaction),
    so waiting for the lock does not redo the checks each time."""
    waited = session.info.pop(_PLAN_AWAITING_LOCK, None)
    if waited is not None and waited[0] == (dag_id, request):
        planned, recheck = waited[1], True
    else:
        with db_writes.reads_for(session) as read:
            planned = plan_manual_run(dag_id, session=read, **request)
            recheck = read is not session
    if isinstance(planned, models.DagRun):
        return planned
    try:
        run = insert_manual_run(planned, session=session, recheck=recheck)
    except db_writes.WriteLockBusy:
        session.info[_PLAN_AWAITING_LOCK] = ((dag_id, request), planned)
        raise
    wake_on_commit(session, "scheduler")
    return run


#: `session.info` key: a trigger's plan while its call waits for SQLite's write lock.
_PLAN_AWAITING_LOCK = "aerovane.trigger_plan"


@dataclass(frozen=True, slots=True)
class ManualRun:
    """A manual trigger that passed every check (`plan_manual_run`), ready to insert."""

    dag: SerializedDAG
    run_id: str
    logical_date: dt.datetime
    #: Neither run id nor logical date was given: on a collision, take the next microsecond.
    auto: bool
    request: _TriggerRequest
    note: str | None
    triggered_by: str | None
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class NewRun:
    """The columns of a run `insert_manual_run` created, named as on `models.DagRun`."""

    dag_id: str
    run_id: str
    logical_date: dt.datetime
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    run_type: str
    state: str
    external_trigger: bool
    conf: dict[str, Any]
    note: str | None
    start_date: None = None
    end_date: None = None
    last_scheduling_decision: None = None


_DAG = models.DagModel.__table__.c
_SERIALIZED = models.SerializedDagModel.__table__.c
#: What a trigger needs to know about a DAG, in one query.
_DAG_STATE = (
    select(_DAG.is_active, _DAG.has_import_errors, _SERIALIZED.dag_hash)
    .select_from(
        models.DagModel.__table__.outerjoin(
            models.SerializedDagModel.__table__, _SERIALIZED.dag_id == _DAG.dag_id
        )
    )
    .where(_DAG.dag_id == bindparam("dag_id"))
)


def plan_manual_run(
    dag_id: str,
    *,
    run_id: str | None = None,
    logical_date: dt.datetime | None = None,
    data_interval: tuple[dt.datetime, dt.datetime] | None = None,
    conf: dict[str, Any] | None = None,
    note: str | None = None,
    triggered_by: str | None = None,
    idempotency_key: str | None = None,
    session: Session,
) -> ManualRun | models.DagRun:
    """Every check of `trigger_dag_run`, reading only: the run to create, or the run an
    earlier trigger with the same `idempotency_key` created. Raises as `trigger_dag_run`."""
    from aerovane.authoring.exceptions import ParamValidationError

    if logical_date is not None and logical_date.tzinfo is None:
        raise BadRequest("Naive datetime is disallowed")
    request = _TriggerRequest(run_id, logical_date, data_interval, conf or {})
    if idempotency_key is not None:
        existing = _run_with_idempotency_key(dag_id, idempotency_key, session=session)
        if existing is not None:
            return request.check_replay_of(existing)
    state = session.execute(_DAG_STATE, {"dag_id": dag_id}).first()
    if state is None or not state.is_active:
        raise NotFound(f"DAG with dag_id: '{dag_id}' not found")
    if state.has_import_errors:
        raise BadRequest(f"DAG with dag_id: '{dag_id}' has import errors")
    dag = None
    if state.dag_hash is not None:
        dag = serialized_dag_version(dag_id, state.dag_hash, session=session)
    if dag is None:
        raise NotFound(f"DAG with dag_id: '{dag_id}' not found")
    if conf is not None and not isinstance(conf, dict):
        raise BadRequest("conf must be a JSON object")
    try:
        strict_json.check(conf)  # the CLI and tasks trigger too, not only the API
    except strict_json.InvalidJson as exc:
        raise BadRequest(f"conf is not valid JSON: {exc}") from None
    try:
        dag.params.resolve(conf or {})
    except ParamValidationError as exc:
        raise BadRequest(str(exc)) from None
    auto = logical_date is None and run_id is None
    if logical_date is None:
        logical_date = utcnow()
    if run_id is None:
        run_id = generate_run_id(DagRunType.MANUAL, logical_date)
    else:
        if len(run_id) > models.ID_LEN:
            # SQLite would store it whole; PostgreSQL would refuse it only at the insert.
            raise BadRequest(f"The provided run ID is longer than {models.ID_LEN} characters")
        pattern = get_settings().getstr("scheduler", "allowed_run_id_pattern")
        if not re.match(pattern, run_id):
            raise BadRequest(
                f"The provided run ID '{run_id}' is invalid. It does not match the configured "
                f"pattern: '{pattern}'"
            )
    return ManualRun(
        dag=dag,
        run_id=run_id,
        logical_date=logical_date,
        auto=auto,
        request=request,
        note=note,
        triggered_by=triggered_by,
        idempotency_key=idempotency_key,
    )


_RUN_TABLE = models.DagRun.__table__
_INSERT_TIS = insert(models.TaskInstance.__table__)


@functools.cache
def _insert_run_unless_taken(dialect: str) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING id` in `dialect` (sqlite or postgresql),
    built on first use: importing the PostgreSQL dialect costs an SQLite install ~20 ms and
    a megabyte or two for nothing."""
    module = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
    return module.insert(_RUN_TABLE).on_conflict_do_nothing().returning(_RUN_TABLE.c.id)


def insert_manual_run(
    plan: ManualRun, *, session: Session, recheck: bool = True
) -> NewRun | models.DagRun:
    """Create the planned run and its task instances, or return the run an earlier trigger
    with the same idempotency key created (AlreadyExists as `trigger_dag_run`).

    The DAG is checked again first, inside this (write) transaction; if it changed since the
    plan was made, the whole trigger is redone here. `recheck=False` skips that when the plan
    was made in this very session (a second look would be one statement later, no safer)."""
    dag, request = plan.dag, plan.request
    state = session.execute(_DAG_STATE, {"dag_id": dag.dag_id}).first() if recheck else None
    if recheck and (state is None or tuple(state) != (True, False, dag.dag_hash)):
        return trigger_dag_run(
            dag.dag_id,
            run_id=request.run_id,
            logical_date=request.logical_date,
            data_interval=request.data_interval,
            conf=request.conf,
            note=plan.note,
            triggered_by=plan.triggered_by,
            idempotency_key=plan.idempotency_key,
            session=session,
        )
    from aerovane.authoring.timetables import DataInterval

    insert_run = _insert_run_unless_taken(session.get_bind().dialect.name)
    run_id, logical_date = plan.run_id, plan.logical_date
    for _ in range(1000):
        if request.data_interval is not None:
            interval = DataInterval(*request.data_interval)
        else:
            interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
        run = NewRun(
            dag_id=dag.dag_id,
            run_id=run_id,
            logical_date=logical_date,
            data_interval_start=interval.start,
            data_interval_end=interval.end,
            run_type=DagRunType.MANUAL.value,
            state=DagRunState.QUEUED.value,
            external_trigger=True,
            conf=request.conf,
            note=plan.note,
        )
        values = {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "logical_date": run.logical_date,
            "data_interval_start": run.data_interval_start,
            "data_interval_end": run.data_interval_end,
            "run_type": run.run_type,
            "external_trigger": True,
            "conf": run.conf,
            "state": run.state,
            "queued_at": utcnow(),
            "dag_hash": dag.dag_hash,
            "note": run.note,
            "triggered_by": plan.triggered_by,
            "idempotency_key": plan.idempotency_key,
        }
        # ON CONFLICT DO NOTHING: a taken id, date or key inserts (and returns) nothing instead
        # of failing the transaction, so no savepoint is needed.
        if session.execute(insert_run, _run_row(values)).first() is not None:
            ti_rows = task_instance_rows(dag, dag.dag_id, run_id)
            if ti_rows:
                session.execute(_INSERT_TIS, ti_rows)
            return run
        if plan.idempotency_key is not None:
            existing = _run_with_idempotency_key(dag.dag_id, plan.idempotency_key, session=session)
            if existing is not None:
                return request.check_replay_of(existing)
        if not plan.auto:
            raise AlreadyExists(
                f"DAGRun with DAG ID: '{dag.dag_id}' and DAGRun ID: '{run_id}' or logical date "
                f"'{logical_date.isoformat()}' already exists"
            )
        logical_date += dt.timedelta(microseconds=1)
        run_id = generate_run_id(DagRunType.MANUAL, logical_date)
    raise AlreadyExists(f"could not find a free logical date for a run of {dag.dag_id!r}")


def _run_row(values: dict[str, Any]) -> dict[str, Any]:
    """ORM attribute names to column names (`logical_date` is the `execution_date` column)."""
    row = dict(values)
    row["execution_date"] = row.pop("logical_date")
    return row


def task_instance_rows(dag: SerializedDAG, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """The rows `create_task_instances` adds, for a Core INSERT."""
    rows = [
        {
            "dag_id": dag_id,
            "task_id": task.task_id,
            "run_id": run_id,
            "map_index": -1,
            "try_number": 0,
            "max_tries": task.retries,
            "state": None,
            "pool": task.pool,
            "pool_slots": task.pool_slots,
            "queue": task.queue,
            "priority_weight": task.priority_weight,
            "operator": task.operator_name,
            "task_display_name": task.task_display_name,
            "executor_config": task.executor_config or None,
            "hostname": "",
            "unixname": "",
        }
        for task in dag.task_dict.values()
    ]
    for row, task in zip(rows, dag.task_dict.values(), strict=True):
        if task.weight_strategy is not None:  # a plugin's strategy weighs the new instance
            row["priority_weight"] = task.priority_weight_for(models.TaskInstance(**row))
    return rows


def list_dag_runs(
    dag_id: str,
    *,
    state: str | None = None,
    no_backfill: bool = False,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 500,
    session: Session,
) -> list[models.DagRun]:
    """One DAG's runs, newest logical date first (the CLI's `dags list-runs`), bounded."""
    query = select(models.DagRun).where(models.DagRun.dag_id == dag_id)
    if state:
        query = query.where(models.DagRun.state == state)
    if no_backfill:
        query = query.where(models.DagRun.run_type != DagRunType.BACKFILL.value)
    if start is not None:
        query = query.where(models.DagRun.logical_date >= start)
    if end is not None:
        query = query.where(models.DagRun.logical_date <= end)
    return list(session.scalars(query.order_by(models.DagRun.logical_date.desc()).limit(limit)))


def find_run_by_logical_date(
    dag_id: str, logical_date: dt.datetime, *, session: Session
) -> models.DagRun | None:
    return session.scalar(
        select(models.DagRun).where(
            models.DagRun.dag_id == dag_id, models.DagRun.logical_date == logical_date
        )
    )


def get_dag_run(dag_id: str, run_id: str, *, session: Session) -> models.DagRun:
    run = session.scalar(
        select(models.DagRun).where(models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id)
    )
    if run is None:
        raise NotFound(f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found")
    return run


# -- idempotent triggers ------------------------------------------------------------------------

IDEMPOTENCY_MISMATCH = "Idempotency-Key reused with a different request"


@dataclass(frozen=True, slots=True)
class _TriggerRequest:
    """What a trigger asked for explicitly (None: left to the server)."""

    run_id: str | None
    logical_date: dt.datetime | None
    data_interval: tuple[dt.datetime, dt.datetime] | None
    conf: dict[str, Any]

    def check_replay_of(self, run: models.DagRun) -> models.DagRun:
        """`run` if it is what this request would have created; AlreadyExists otherwise."""
        same = (
            (self.run_id is None or self.run_id == run.run_id)
            and (self.logical_date is None or self.logical_date == run.logical_date)
            and (
                self.data_interval is None
                or self.data_interval == (run.data_interval_start, run.data_interval_end)
            )
            and self.conf == (run.conf or {})
        )
        if not same:
            raise AlreadyExists(IDEMPOTENCY_MISMATCH)
        return run


def _run_with_idempotency_key(dag_id: str, key: str, *, session: Session) -> models.DagRun | None:
    return session.scalar(
        select(models.DagRun).where(
            models.DagRun.dag_id == dag_id, models.DagRun.idempotency_key == key
        )
    )


# -- changing runs -------------------------------------------------------------------------------

TI = models.TaskInstance
#: Task states `set_dag_run_state(FAILED)` fails; other unfinished task instances are skipped.
_RUNNING_TI_VALUES = frozenset(
    {TaskState.RUNNING.value, TaskState.DEFERRED.value, TaskState.UP_FOR_RESCHEDULE.value}
)
_FINISHED_RUN_VALUES = frozenset({DagRunState.SUCCESS.value, DagRunState.FAILED.value})


def delete_dag_run(dag_id: str, run_id: str, *, session: Session) -> None:
    """Delete the run; its task instances, tries, XComs and dataset-event links go with it."""
    run_pk = session.scalar(
        select(models.DagRun.id).where(
            models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
        )
    )
    if run_pk is None:
        raise NotFound(f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found")
    # The foreign keys cascade; deleting children explicitly keeps that true on a database
    # whose constraints were created without ON DELETE CASCADE.
    session.execute(delete(models.XCom).where(models.XCom.dag_run_id == run_pk))
    session.execute(
        delete(models.DagRunDatasetEvent).where(models.DagRunDatasetEvent.dag_run_id == run_pk)
    )
    for model in (models.TaskReschedule, models.TaskInstanceHistory, models.TaskInstance):
        session.execute(delete(model).where(model.dag_id == dag_id, model.run_id == run_id))
    session.execute(delete(models.DagRun).where(models.DagRun.id == run_pk))


def set_run_state(run: models.DagRun, state: DagRunState, *, now: dt.datetime) -> None:
    """Change the run's state and dates as Airflow's `DagRun.set_state` does."""
    old = run.state
    if old == state.value:
        if state is DagRunState.QUEUED:
            run.queued_at = now
        return
    if state is DagRunState.QUEUED:
        run.queued_at = now
        run.start_date = None
        run.end_date = None
    elif state is DagRunState.RUNNING:
        run.start_date = now if old in _FINISHED_RUN_VALUES else (run.start_date or now)
        run.end_date = None
    elif old not in _FINISHED_RUN_VALUES:
        run.end_date = now
    run.state = state.value


def _locked_task_instances(
    dag_id: str, run_id: str, *, session: Session, states: Any = None
) -> list[models.TaskInstance]:
    """The run's task instances, row-locked on PostgreSQL so that a task process finishing at
    the same moment waits for this transaction and then sees the new state (on SQLite the
    write transaction already excludes every other writer)."""
    query = select(TI).where(TI.dag_id == dag_id, TI.run_id == run_id)
    if states is not None:
        query = query.where(states)
    query = query.order_by(TI.task_id, TI.map_index)
    if is_postgres(session):
        query = query.with_for_update()
    return list(session.scalars(query))


def _finish_ti(ti: models.TaskInstance, state: TaskState, now: dt.datetime) -> None:
    """Airflow's `TaskInstance.set_state` for a finished state."""
    ti.state = state.value
    ti.start_date = ti.start_date or now
    ti.end_date = ti.end_date or now
    ti.duration = (ti.end_date - ti.start_date).total_seconds()
    ti.next_retry_at = None
    clear_deferral(ti)


def set_dag_run_state(
    dag_id: str, run_id: str, state: DagRunState, *, session: Session
) -> models.DagRun:
    """Mark a run success, failed or queued, as Airflow's `set_dag_run_state_to_*` do.

    - success: every task instance of the DAG's tasks that is not `success` becomes `success`
      (failed and skipped ones too, as in Airflow).
    - failed: running (and deferred, up-for-reschedule) task instances become `failed`, every
      other unfinished one `skipped`.
    - queued: only the run changes; the scheduler starts it again (woken by the commit).

    A task process whose task instance is changed here notices at its next heartbeat and stops.
    """
    run = get_dag_run(dag_id, run_id, session=session)
    now = utcnow()
    if state is DagRunState.SUCCESS:
        dag = get_serialized_dag(dag_id, session=session)
        condition = or_(TI.state.is_(None), TI.state != TaskState.SUCCESS.value)
        if dag is not None:
            condition = and_(condition, TI.task_id.in_(list(dag.task_dict)))
        for ti in _locked_task_instances(dag_id, run_id, states=condition, session=session):
            _finish_ti(ti, TaskState.SUCCESS, now)
    elif state is DagRunState.FAILED:
        unfinished = or_(TI.state.is_(None), TI.state.not_in(FINISHED_TI_VALUES))
        for ti in _locked_task_instances(dag_id, run_id, states=unfinished, session=session):
            failed = ti.state in _RUNNING_TI_VALUES
            _finish_ti(ti, TaskState.FAILED if failed else TaskState.SKIPPED, now)
    set_run_state(run, state, now=now)
    session.flush()
    if state is DagRunState.QUEUED:
        wake_on_commit(session, "scheduler")
    return run


def clear_dag_run(
    dag_id: str, run_id: str, *, dry_run: bool, session: Session
) -> tuple[models.DagRun, list[models.TaskInstance]]:
    """Clear every task instance of the run so the scheduler runs them again (Airflow's
    `DAG.clear` over the run's logical date). Returns the run and the task instances concerned;
    with `dry_run` nothing changes.

    Each task instance gets state None and keeps its try number; `max_tries` becomes
    `try_number + retries` so the task has its retries again. Finished attempts are kept in the
    try history first. The run goes back to `queued` with `clear_number` + 1, and the
    schedulers are woken by the commit.
    """
    run = get_dag_run(dag_id, run_id, session=session)
    if dry_run:
        tis = list(
            session.scalars(
                select(TI)
                .where(TI.dag_id == dag_id, TI.run_id == run_id)
                .order_by(TI.task_id, TI.map_index)
            )
        )
        return run, tis
    tis = _locked_task_instances(dag_id, run_id, session=session)
    dag = get_serialized_dag(dag_id, session=session)
    archive_tries(tis, session=session)
    for ti in tis:
        task = dag.task_dict.get(ti.task_id) if dag is not None else None
        if task is not None:
            ti.max_tries = ti.try_number + task.retries
        else:
            ti.max_tries = max(ti.max_tries, ti.try_number)
        ti.state = None
        ti.next_retry_at = None
        clear_deferral(ti)
    now = utcnow()
    set_run_state(run, DagRunState.QUEUED, now=now)
    run.start_date = None
    run.end_date = None
    run.last_scheduling_decision = None
    run.clear_number = (run.clear_number or 0) + 1
    session.flush()
    wake_on_commit(session, "scheduler")
    return run, tis


_HISTORY_COLUMNS = tuple(
    column.name
    for column in models.TaskInstanceHistory.__table__.columns
    if column.name != "id" and column.name in models.TaskInstance.__table__.columns
)


def archive_tries(tis: list[models.TaskInstance], *, session: Session) -> None:
    """Copy the current attempt of each task instance that has one into the try history
    (once), before the task instance is reset for another attempt."""
    tried = [ti for ti in tis if ti.try_number > 0]
    if not tried:
        return
    history = models.TaskInstanceHistory
    archived = set()
    task_ids = sorted({ti.task_id for ti in tried})
    for chunk in range(0, len(task_ids), 500):
        archived.update(
            session.execute(
                select(history.task_id, history.map_index, history.try_number).where(
                    history.dag_id == tried[0].dag_id,
                    history.run_id == tried[0].run_id,
                    history.task_id.in_(task_ids[chunk : chunk + 500]),
                )
            )
        )
    rows = [
        {name: getattr(ti, name) for name in _HISTORY_COLUMNS}
        for ti in tried
        if (ti.task_id, ti.map_index, ti.try_number) not in archived
    ]
    if rows:
        session.execute(insert(history), rows)


def set_dag_run_note(
    dag_id: str, run_id: str, note: str | None, *, session: Session
) -> models.DagRun:
    run = get_dag_run(dag_id, run_id, session=session)
    run.note = note
    session.flush()
    return run


def upstream_dataset_events(
    run: models.DagRun, *, session: Session
) -> list[tuple[models.DatasetEvent, list[models.DagRun]]]:
    """The dataset events that triggered `run`, each with every run it triggered (two
    queries whatever the number of events)."""
    link = models.DagRunDatasetEvent
    events = list(
        session.scalars(
            select(models.DatasetEvent)
            .join(link, link.event_id == models.DatasetEvent.id)
            .where(link.dag_run_id == run.id)
            .order_by(models.DatasetEvent.timestamp, models.DatasetEvent.id)
        )
    )
    if not events:
        return []
    created: dict[int, list[models.DagRun]] = {event.id: [] for event in events}
    rows = session.execute(
        select(link.event_id, models.DagRun)
        .join(models.DagRun, models.DagRun.id == link.dag_run_id)
        .where(link.event_id.in_(list(created)))
        .order_by(models.DagRun.id)
    )
    for event_id, dag_run in rows:
        created[event_id].append(dag_run)
    return [(event, created[event.id]) for event in events]
