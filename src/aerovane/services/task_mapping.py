"""Expanding a mapped task in a run: its task instances for map indexes 0..n-1.

The scheduler calls `expand` once the mapped task's upstreams let it run; the number of
instances comes from the task's expand spec (literal lengths, or the length of an upstream's
XCom read here). Over `[core] max_map_length` or not mappable: the task fails with the reason
in its log; zero: the task is skipped, as in Airflow. A mapped task that was cleared is
`revise`d when it may run again: its length is read anew, as Airflow's
`_revise_map_indexes_if_mapped` does, so a cleared upstream that now returns more or fewer
values adds map indexes or marks the extra ones `removed`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
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


def _instances(
    template: Any,
    dag_id: str,
    task_id: str,
    run_id: str,
    indexes: Iterable[int],
    *,
    max_tries: int,
    state: str | None,
) -> Iterator[models.TaskInstance]:
    """New task instances of a mapped task at `indexes`, with the pool, queue, priority,
    operator and executor config of `template` (an existing instance's row)."""
    for index in indexes:
        yield TI(
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            map_index=index,
            try_number=0,
            max_tries=max_tries,
            state=state,
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


def _length(run: models.DagRun, task: SerializedTask, session: Session) -> tuple[int, str | None]:
    """The task's mapped length in this run, or 0 and why it cannot be expanded."""
    assert task.expand_input is not None
    limit = get_settings().getint("core", "max_map_length")
    try:
        length = expanded_length(task.expand_input, _pull(run, session))
    except UnmappableValue as err:
        return 0, str(err)
    if length > limit:
        return 0, f"mapped length {length} exceeds [core] max_map_length ({limit})"
    return length, None


def expand(run: models.DagRun, task: SerializedTask, *, session: Session) -> tuple[str, int]:
    """Turn the task's map_index -1 instance into instances 0..n-1, all scheduled; returns the
    state the task ends in (scheduled, skipped or failed) and the number of instances."""
    length, reason = _length(run, task, session)
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
        _instances(
            template,
            template.dag_id,
            template.task_id,
            template.run_id,
            range(1, length),
            max_tries=template.max_tries,
            state=scheduled,
        )
    )
    session.flush()
    return scheduled, length


def revise(run: models.DagRun, task: SerializedTask, *, session: Session) -> dict[int, str | None]:
    """Re-read the length of an expanded mapped task whose cleared instances may run again.

    Indexes past the new length become `removed` (index 0 `skipped` when the length is now 0,
    as a first expansion to nothing skips the task); missing indexes are added with no state
    for the scheduler to schedule with the cleared ones. A length that cannot be expanded
    fails the cleared instances with the reason in their next try's log. Returns the task's
    instances' states by map index after the revision."""
    where = (TI.dag_id == run.dag_id, TI.run_id == run.run_id, TI.task_id == task.task_id)
    rows = session.execute(select(TI.map_index, TI.state, TI.try_number).where(*where)).all()
    states: dict[int, str | None] = {row.map_index: row.state for row in rows}
    length, reason = _length(run, task, session)
    if reason is not None:
        log.error("run %s: task %s cannot be expanded: %s", run.run_id, task.task_id, reason)
        now = utcnow()
        for row in rows:
            if row.state is None:
                _write_reason(run, task.task_id, reason, row.try_number + 1, row.map_index)
                states[row.map_index] = TaskState.FAILED.value
        session.execute(
            update(TI)
            .where(*where, TI.state.is_(None))
            .values(
                state=TaskState.FAILED.value,
                try_number=TI.try_number + 1,
                start_date=now,
                end_date=now,
                duration=0.0,
            )
        )
        return states
    removed = sorted(i for i in states if i >= max(length, 1))
    if length == 0 and 0 in states:
        now = utcnow()
        session.execute(
            update(TI)
            .where(*where, TI.map_index == 0)
            .values(state=TaskState.SKIPPED.value, start_date=now, end_date=now, duration=0.0)
        )
        states[0] = TaskState.SKIPPED.value
    if removed:
        session.execute(
            update(TI)
            .where(*where, TI.map_index.in_(removed))
            .values(state=TaskState.REMOVED.value)
        )
        states.update(dict.fromkeys(removed, TaskState.REMOVED.value))
    gone = removed + ([0] if length == 0 and 0 in states else [])
    if gone:  # what the removed indexes returned is no longer part of the task's result
        session.execute(
            delete(models.XCom).where(
                models.XCom.dag_run_id == run.id,
                models.XCom.task_id == task.task_id,
                models.XCom.map_index.in_(gone),
            )
        )
    missing = [i for i in range(length) if i not in states]
    if missing:
        template = session.execute(
            select(
                TI.pool,
                TI.pool_slots,
                TI.queue,
                TI.priority_weight,
                TI.operator,
                TI.task_display_name,
                TI.executor_config,
            )
            .where(*where)
            .order_by(TI.map_index)
            .limit(1)
        ).one()
        session.add_all(
            _instances(
                template,
                run.dag_id,
                task.task_id,
                run.run_id,
                missing,
                max_tries=task.retries,
                state=None,
            )
        )
        session.flush()
        states.update(dict.fromkeys(missing))
    if removed or missing:
        log.info("run %s: task %s revised to %d map indexes", run.run_id, task.task_id, length)
    return dict(sorted(states.items()))


def _write_reason(
    run: models.DagRun, task_id: str, reason: str, try_number: int = 1, map_index: int = -1
) -> None:
    """The failure reason where the task's log would be, so the API's log endpoint shows it."""
    path = log_path(run.dag_id, run.run_id, task_id, try_number, map_index)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"ERROR - Failed to expand mapped task: {reason}\n", encoding="utf-8")
