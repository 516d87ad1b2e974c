"""Task attempts whose process ended (or vanished) without recording an outcome.

The local executor reports every process exit at once; the heartbeat check catches the rest
(a worker host lost, a scheduler restarted). Either way the attempt is failed or retried, so no
run waits forever on a task nobody runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.types import utcnow
from aerovane.logs.context import ids
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.task_logs import log_path
from aerovane.states import TaskState

log = logging.getLogger("aerovane.scheduler")


def describe_exit(code: int) -> str:
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the task process was killed by {name}"
    return f"the task process exited with code {code} without recording a result"


def fail_dead_attempt(ti: models.TaskInstance, reason: str, *, session: Session) -> str:
    """Fail or retry `ti` (in the caller's transaction); append the reason to its log."""
    now = utcnow()
    dag = get_serialized_dag(ti.dag_id, session=session)
    task = dag.task_dict.get(ti.task_id) if dag is not None else None
    if ti.try_number <= ti.max_tries:
        delay = dt.timedelta(0)
        if task is not None:
            delay = task.retry_delay
            if task.retry_exponential_backoff:
                delay = min(
                    delay * (2 ** max(0, ti.try_number - 1)),
                    task.max_retry_delay or dt.timedelta(days=1),
                )
        ti.state = TaskState.UP_FOR_RETRY.value
        ti.next_retry_at = now + delay
    else:
        ti.state = TaskState.FAILED.value
    ti.end_date = now
    if ti.start_date is not None:
        ti.duration = (now - ti.start_date).total_seconds()
    message = f"{reason}; marking task {ti.state.upper()}"
    log.warning(
        "%s.%s %s try %d: %s",
        ti.dag_id,
        ti.task_id,
        ti.run_id,
        ti.try_number,
        message,
        extra=ids(ti),
    )
    _append_to_log(ti, message)
    return ti.state


def _append_to_log(ti: models.TaskInstance, message: str) -> None:
    path: Path = log_path(ti.dag_id, ti.run_id, ti.task_id, ti.try_number, ti.map_index)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = utcnow().isoformat(timespec="milliseconds")
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"[{stamp}] {{scheduler}} ERROR - {message}\n")
    except OSError:
        log.warning("could not append to %s", path)


def find_zombies(*, threshold: dt.timedelta, session: Session) -> list[models.TaskInstance]:
    """Running attempts whose heartbeat is older than `threshold`."""
    cutoff = utcnow() - threshold
    return list(
        session.scalars(
            select(models.TaskInstance).where(
                models.TaskInstance.state == TaskState.RUNNING.value,
                models.TaskInstance.last_heartbeat_at < cutoff,
            )
        )
    )
