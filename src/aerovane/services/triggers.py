"""Deferral in the metadata database: storing a deferred attempt's trigger, triggerers claiming
triggers (the scale-out HA rule: a trigger is run by one live triggerer), and moving task
instances back to `scheduled` when their trigger fires, fails or times out.

A trigger row lives while a `deferred` task instance points at it. Every state change here is
a guarded update (`state = 'deferred' AND trigger_id = ...`), so an event delivered twice (two
triggerers briefly running one trigger after a takeover) resumes the task once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, insert, or_, select, update
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.engine import is_postgres
from aerovane.db.types import utcnow
from aerovane.states import TaskState

TI = models.TaskInstance
TRIGGERER_JOB = "TriggererJob"
#: Airflow's `TriggerFailureReason.TRIGGER_TIMEOUT`.
TRIGGER_TIMEOUT = "Trigger timeout"

_DEFERRAL_COLUMNS = ("next_method", "next_kwargs", "trigger_id", "trigger_timeout")


def clear_deferral(ti: models.TaskInstance) -> None:
    """Forget what a task instance would resume with (it was cleared or set from outside)."""
    for column in _DEFERRAL_COLUMNS:
        setattr(ti, column, None)


# -- JSON-safe kwargs -----------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """Trigger kwargs and event payloads as stored: JSON, with datetimes and timedeltas tagged."""
    if isinstance(value, dt.datetime):
        return {"__type": "datetime", "__value": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"__type": "timedelta", "__value": value.total_seconds()}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a trigger or event: {value!r}")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        kind = value.get("__type")
        if kind == "datetime" and "__value" in value:
            return dt.datetime.fromisoformat(value["__value"])
        if kind == "timedelta" and "__value" in value:
            return dt.timedelta(seconds=value["__value"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


# -- the task's side ------------------------------------------------------------------------------


def defer_task_instance(
    ti_filter: Sequence[Any],
    *,
    classpath: str,
    trigger_kwargs: dict[str, Any],
    next_method: str,
    next_kwargs: dict[str, Any] | None,
    timeout_at: dt.datetime | None,
    values: dict[str, Any],
    session: Session,
) -> bool:
    """running → deferred with a new trigger row; False (and no row) if the task instance was
    changed from outside meanwhile."""
    trigger_id = session.execute(
        insert(models.Trigger)
        .values(classpath=classpath, kwargs=encode(trigger_kwargs), created_date=utcnow())
        .returning(models.Trigger.id)
    ).scalar_one()
    result = session.execute(
        update(TI)
        .where(*ti_filter, TI.state == TaskState.RUNNING.value)
        .values(
            state=TaskState.DEFERRED.value,
            trigger_id=trigger_id,
            next_method=next_method,
            next_kwargs=encode(next_kwargs or {}),
            trigger_timeout=timeout_at,
            **values,
        )
    )
    if result.rowcount != 1:
        session.execute(delete(models.Trigger).where(models.Trigger.id == trigger_id))
        return False
    return True


def triggers_with_jobs(
    trigger_ids: Sequence[int | None], *, session: Session
) -> dict[int, tuple[models.Trigger, models.Job | None]]:
    """Deferred task instances' triggers, each with the triggerer job running it (or None), in
    one query: what the API shows as a task instance's `trigger` and `triggerer_job`."""
    ids = sorted({i for i in trigger_ids if i is not None})
    if not ids:
        return {}
    rows = session.execute(
        select(models.Trigger, models.Job)
        .outerjoin(models.Job, models.Job.id == models.Trigger.triggerer_id)
        .where(models.Trigger.id.in_(ids))
    ).all()
    return {trigger.id: (trigger, job) for trigger, job in rows}


# -- the triggerer's side -------------------------------------------------------------------------


def live_triggerers(*, threshold: dt.timedelta, session: Session) -> list[Any]:
    """Running triggerer jobs that beat within `threshold`: (id, hostname, pid, start_date)."""
    return list(
        session.execute(
            select(models.Job.id, models.Job.hostname, models.Job.pid, models.Job.start_date).where(
                models.Job.job_type == TRIGGERER_JOB,
                models.Job.state == "running",
                models.Job.latest_heartbeat > utcnow() - threshold,
            )
        )
    )


def assign_unassigned(
    triggerer_id: int, *, capacity: int, alive: list[int], session: Session
) -> int:
    """Take up to `capacity` (minus what we run) triggers that no triggerer in `alive` owns.

    On PostgreSQL the candidate rows are locked with SKIP LOCKED, so two triggerers claiming at
    once take different triggers; SQLite's write transaction serializes the claims."""
    owned = session.scalar(
        select(models.Trigger.id).where(models.Trigger.triggerer_id == triggerer_id).limit(1)
    )
    running = (
        len(
            session.scalars(
                select(models.Trigger.id).where(models.Trigger.triggerer_id == triggerer_id)
            ).all()
        )
        if owned is not None
        else 0
    )
    room = capacity - running
    if room <= 0:
        return 0
    unowned = or_(models.Trigger.triggerer_id.is_(None), models.Trigger.triggerer_id.not_in(alive))
    query = select(models.Trigger.id).where(unowned).order_by(models.Trigger.id).limit(room)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return 0
    result = session.execute(
        update(models.Trigger)
        .where(models.Trigger.id.in_(ids), unowned)
        .values(triggerer_id=triggerer_id)
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class TriggerWork:
    """One trigger to run, and the task instance whose log its lines go to."""

    id: int
    classpath: str
    kwargs: dict[str, Any]
    task_key: tuple[str, str, str, int, int] | None


def owned_triggers(triggerer_id: int, *, session: Session) -> list[TriggerWork]:
    rows = session.execute(
        select(
            models.Trigger.id,
            models.Trigger.classpath,
            models.Trigger.kwargs,
            TI.dag_id,
            TI.task_id,
            TI.run_id,
            TI.map_index,
            TI.try_number,
        )
        .outerjoin(TI, and_(TI.trigger_id == models.Trigger.id))
        .where(models.Trigger.triggerer_id == triggerer_id)
        .order_by(models.Trigger.id)
    ).all()
    work: dict[int, TriggerWork] = {}
    for row in rows:
        key = None if row.dag_id is None else tuple(row[3:])
        work.setdefault(row.id, TriggerWork(row.id, row.classpath, decode(row.kwargs), key))  # type: ignore[arg-type]
    return list(work.values())


def _resume(trigger_id: int, next_values: dict[str, Any], *, session: Session) -> int:
    """Move the trigger's deferred task instances back to `scheduled` and drop the trigger."""
    resumed = 0
    tis = session.scalars(
        select(TI).where(TI.trigger_id == trigger_id, TI.state == TaskState.DEFERRED.value)
    ).all()
    for ti in tis:
        values = {**next_values}
        if "next_kwargs" not in values:
            values["next_kwargs"] = {**(ti.next_kwargs or {}), "event": values.pop("event")}
        result = session.execute(
            update(TI)
            .where(
                TI.dag_id == ti.dag_id,
                TI.task_id == ti.task_id,
                TI.run_id == ti.run_id,
                TI.map_index == ti.map_index,
                TI.try_number == ti.try_number,
                TI.state == TaskState.DEFERRED.value,
                TI.trigger_id == trigger_id,
            )
            .values(
                state=TaskState.SCHEDULED.value,
                trigger_id=None,
                trigger_timeout=None,
                next_retry_at=None,
                **values,
            )
        )
        resumed += result.rowcount
    session.execute(delete(models.Trigger).where(models.Trigger.id == trigger_id))
    return resumed


def submit_event(trigger_id: int, payload: Any, *, session: Session) -> int:
    """The trigger fired: its task instances resume with `event=payload`. Returns how many."""
    return _resume(trigger_id, {"event": encode(payload)}, session=session)


def submit_failure(
    trigger_id: int, error: str, trace: list[str] | None, *, session: Session
) -> int:
    """The trigger raised (or could not be loaded): its task instances resume only to fail."""
    kwargs = {"error": error, "traceback": trace}
    return _resume(trigger_id, {"next_method": "__fail__", "next_kwargs": kwargs}, session=session)


def expire_timed_out(*, session: Session) -> int:
    """Deferred task instances whose `trigger_timeout` passed resume only to fail, as in
    Airflow's scheduler (`check_trigger_timeouts`). Returns how many."""
    now = utcnow()
    result = session.execute(
        update(TI)
        .where(TI.state == TaskState.DEFERRED.value, TI.trigger_timeout < now)
        .values(
            state=TaskState.SCHEDULED.value,
            next_method="__fail__",
            next_kwargs={"error": TRIGGER_TIMEOUT},
            trigger_id=None,
            trigger_timeout=None,
            next_retry_at=None,
        )
    )
    return int(result.rowcount)


def clean_unused(*, session: Session) -> int:
    """Delete triggers no deferred task instance waits on any more (cleared, marked, timed
    out)."""
    waited_on = exists().where(
        TI.trigger_id == models.Trigger.id, TI.state == TaskState.DEFERRED.value
    )
    result = session.execute(delete(models.Trigger).where(~waited_on))
    return int(result.rowcount)
