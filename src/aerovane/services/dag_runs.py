"""Creating DAG runs (manual triggers and scheduled runs) with their task instances."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.types import utcnow
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound
from aerovane.states import DagRunState, DagRunType

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG
    from aerovane.authoring.timetables import DataInterval


def generate_run_id(run_type: DagRunType, logical_date: dt.datetime) -> str:
    return f"{run_type.value}__{logical_date.isoformat()}"


def create_task_instances(dag: SerializedDAG, run: models.DagRun, *, session: Session) -> None:
    """One task instance per task, state None, as Airflow's verify_integrity creates them."""
    session.add_all(
        models.TaskInstance(
            dag_id=run.dag_id,
            task_id=task.task_id,
            run_id=run.run_id,
            map_index=-1,
            try_number=0,
            max_tries=task.retries,
            state=None,
            pool=task.pool,
            pool_slots=task.pool_slots,
            queue=task.queue,
            priority_weight=task.priority_weight,
            operator=task.operator_name,
            task_display_name=task.task_display_name,
            executor_config=task.executor_config or None,
            hostname="",
            unixname="",
        )
        for task in dag.task_dict.values()
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
    session: Session,
) -> models.DagRun:
    """Insert the run and its task instances; raise AlreadyExists on a duplicate id or date."""
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
    session: Session,
) -> models.DagRun:
    """A manual run, validated as Airflow's POST dagRuns validates it.

    Raises NotFound (unknown or inactive DAG), BadRequest (import errors, bad run id, params that
    fail validation) or AlreadyExists (duplicate run id or logical date).
    """
    from aerovane.authoring.exceptions import ParamValidationError
    from aerovane.authoring.timetables import DataInterval

    dag_model = session.get(models.DagModel, dag_id)
    if dag_model is None or not dag_model.is_active:
        raise NotFound(f"DAG with dag_id: '{dag_id}' not found")
    if dag_model.has_import_errors:
        raise BadRequest(f"DAG with dag_id: '{dag_id}' has import errors")
    dag = get_serialized_dag(dag_id, session=session)
    if dag is None:
        raise NotFound(f"DAG with dag_id: '{dag_id}' not found")
    if conf is not None and not isinstance(conf, dict):
        raise BadRequest("conf must be a JSON object")
    try:
        dag.params.resolve(conf or {})
    except ParamValidationError as exc:
        raise BadRequest(str(exc)) from None
    auto = logical_date is None and run_id is None
    if logical_date is None:
        logical_date = utcnow()
    elif logical_date.tzinfo is None:
        raise BadRequest("Naive datetime is disallowed")
    if run_id is None:
        run_id = generate_run_id(DagRunType.MANUAL, logical_date)
    else:
        pattern = get_settings().getstr("scheduler", "allowed_run_id_pattern")
        if not re.match(pattern, run_id):
            raise BadRequest(
                f"The provided run ID '{run_id}' is invalid. It does not match the configured "
                f"pattern: '{pattern}'"
            )
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
                session=session,
            )
        except AlreadyExists:
            if not auto:
                raise
        # Neither id nor date was given: another trigger took this microsecond. Take the next
        # one, so simultaneous triggers never collide.
        logical_date += dt.timedelta(microseconds=1)
        run_id = generate_run_id(DagRunType.MANUAL, logical_date)
    raise AlreadyExists(f"could not find a free logical date for a run of {dag_id!r}")


def get_dag_run(dag_id: str, run_id: str, *, session: Session) -> models.DagRun:
    run = session.scalar(
        select(models.DagRun).where(models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id)
    )
    if run is None:
        raise NotFound(f"DAGRun with DAG ID: '{dag_id}' and DagRun ID: '{run_id}' not found")
    return run
