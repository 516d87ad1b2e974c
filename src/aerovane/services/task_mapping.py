"""Expanding a mapped task in a run: its task instances for map indexes 0..n-1.

The scheduler calls `expand` once the mapped task's upstreams let it run; the number of
instances comes from the task's expand spec (literal lengths, or the length of an upstream's
XCom read here). Over `[core] max_map_length` or not mappable: the task fails with the reason
in its log; zero: the task is skipped, as in Airflow.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from aerovane.authoring.mapping import UnmappableValue, expanded_length
from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.types import utcnow
from aerovane.services.task_logs import log_path
from aerovane.states import TaskState

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedTask

log = logging.getLogger("aerovane.scheduler")

TI = models.TaskInstance


def _pull(run: models.DagRun, session: Session) -> Callable[[str, str], Any]:
    def pull(task_id: str, key: str) -> Any:
        rows = session.execute(
            select(models.XCom.map_index, models.XCom.value)
            .where(
                models.XCom.dag_id == run.dag_id,
                models.XCom.run_id == run.run_id,
                models.XCom.task_id == task_id,
                models.XCom.key == key,
            )
            .order_by(models.XCom.map_index)
        ).all()
        values = {index: None if value is None else json.loads(value) for index, value in rows}
        if any(index >= 0 for index in values):
            return [v for index, v in values.items() if index >= 0]
        return values.get(-1)

    return pull


def expand(run: models.DagRun, task: SerializedTask, *, session: Session) -> tuple[str, int]:
    """Turn the task's map_index -1 instance into instances 0..n-1, all scheduled; returns the
    state the task ends in (scheduled, skipped or failed) and the number of instances."""
    assert task.expand_input is not None
    limit = get_settings().getint("core", "max_map_length")
    reason = None
    try:
        length = expanded_length(task.expand_input, _pull(run, session))
    except UnmappableValue as err:
        length, reason = 0, str(err)
    if reason is None and length > limit:
        reason = f"mapped length {length} exceeds [core] max_map_length ({limit})"
    where = (TI.dag_id == run.dag_id, TI.run_id == run.run_id, TI.task_id == task.task_id)
    now = utcnow()
    if reason is not None or length == 0:
        state = TaskState.FAILED.value if reason else TaskState.SKIPPED.value
        values: dict[str, Any] = {"state": state, "start_date": now, "end_date": now}
        if reason is not None:
            values["try_number"] = 1  # the failed expansion is its one try, with a log
        session.execute(
            update(TI)
            .where(*where, TI.map_index == -1, TI.state.is_(None))
            .values(duration=0.0, **values)
        )
        if reason is not None:
            log.error("run %s: task %s cannot be expanded: %s", run.run_id, task.task_id, reason)
            _write_reason(run, task.task_id, reason)
        return state, 0
    template = session.execute(
        select(
            TI.dag_id,
            TI.task_id,
            TI.run_id,
            TI.max_tries,
            TI.pool,
            TI.pool_slots,
            TI.queue,
            TI.priority_weight,
            TI.operator,
            TI.task_display_name,
            TI.executor_config,
        ).where(*where, TI.map_index == -1)
    ).one()
    scheduled = TaskState.SCHEDULED.value
    session.execute(
        update(TI)
        .where(*where, TI.map_index == -1, TI.state.is_(None))
        .values(map_index=0, state=scheduled)
        .execution_options(synchronize_session=False)
    )
    session.add_all(
        TI(
            dag_id=template.dag_id,
            task_id=template.task_id,
            run_id=template.run_id,
            map_index=index,
            try_number=0,
            max_tries=template.max_tries,
            state=scheduled,
            pool=template.pool,
            pool_slots=template.pool_slots,
            queue=template.queue,
            priority_weight=template.priority_weight,
            operator=template.operator,
            task_display_name=template.task_display_name,
            executor_config=template.executor_config,
            hostname="",
            unixname="",
        )
        for index in range(1, length)
    )
    session.flush()
    return scheduled, length


def _write_reason(run: models.DagRun, task_id: str, reason: str) -> None:
    """The failure reason where the task's log would be, so the API's log endpoint shows it."""
    path = log_path(run.dag_id, run.run_id, task_id, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"ERROR - Failed to expand mapped task: {reason}\n", encoding="utf-8")
