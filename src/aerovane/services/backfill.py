"""Backfill: runs of type `backfill` for each schedule interval in a date range.

As Airflow 2's `dags backfill`, the intervals come from the DAG's timetable between the two
dates (both inclusive, catch-up forced on). A run that already exists for a date is left alone,
cleared whole (`reset_dagruns`) or has only its failed task instances cleared
(`rerun_failed_tasks`). New runs are queued for the scheduler; nothing here runs tasks.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.authoring.serialization import SerializedDAG
from aerovane.authoring.timetables import DagRunInfo, DataInterval, TimeRestriction
from aerovane.db import models
from aerovane.services.dag_runs import clear_dag_run, create_dag_run, generate_run_id
from aerovane.services.dags import get_dag_with_model
from aerovane.services.errors import BadRequest
from aerovane.services.task_instances import clear_task_instances, find_task_instances_to_clear
from aerovane.states import DagRunType

#: A bound on one command's work, so a typo in a date cannot create millions of runs.
MAX_RUNS = 10_000


class Action(enum.StrEnum):
    CREATED = "created"
    SKIPPED = "skipped"  # a run exists and no reset was asked for
    RESET = "reset"  # the existing run was cleared whole
    RERUN_FAILED = "rerun_failed"  # failed task instances of the existing run were cleared


@dataclass(frozen=True, slots=True)
class BackfillStep:
    logical_date: dt.datetime
    run_id: str
    action: Action


def intervals(dag: SerializedDAG, start: dt.datetime, end: dt.datetime) -> Iterator[DagRunInfo]:
    """The timetable's runs whose logical date is in [start, end]."""
    if end < start:
        raise BadRequest(f"--end-date {end.isoformat()} is before --start-date {start.isoformat()}")
    if not dag.timetable.periodic or not dag.timetable.can_be_scheduled:
        raise BadRequest(
            f"DAG {dag.dag_id!r} has no periodic schedule; there is nothing to backfill"
        )
    earliest = start
    dag_start = dag.time_restriction.earliest
    if dag_start is not None and dag_start > earliest:
        earliest = dag_start
    restriction = TimeRestriction(earliest, end, True)
    last: DataInterval | None = None
    for _ in range(MAX_RUNS + 1):
        info = dag.timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        if info is None or info.logical_date > end:
            return
        yield info
        last = info.data_interval
    raise BadRequest(f"the range holds more than {MAX_RUNS} runs; backfill a shorter range")


def backfill(
    dag_id: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    reset_dagruns: bool = False,
    rerun_failed_tasks: bool = False,
    conf: dict[str, Any] | None = None,
    dry_run: bool = False,
    session: Session,
) -> list[BackfillStep]:
    """Create (or reset) the backfill's runs; with `dry_run`, only say what would happen."""
    _, dag = get_dag_with_model(dag_id, session=session)
    infos = list(intervals(dag, start, end))
    existing = {
        run.logical_date.replace(tzinfo=dt.UTC)
        if run.logical_date.tzinfo is None
        else run.logical_date: run
        for run in session.scalars(
            select(models.DagRun).where(
                models.DagRun.dag_id == dag_id,
                models.DagRun.logical_date >= infos[0].logical_date if infos else start,
                models.DagRun.logical_date <= end,
            )
        )
    }
    steps: list[BackfillStep] = []
    for info in infos:
        run = existing.get(info.logical_date)
        if run is None:
            run_id = generate_run_id(DagRunType.BACKFILL, info.logical_date)
            if not dry_run:
                create_dag_run(
                    dag,
                    run_id=run_id,
                    logical_date=info.logical_date,
                    data_interval=info.data_interval,
                    run_type=DagRunType.BACKFILL,
                    conf=conf,
                    external_trigger=False,
                    triggered_by="backfill",
                    session=session,
                )
            steps.append(BackfillStep(info.logical_date, run_id, Action.CREATED))
        elif reset_dagruns:
            if not dry_run:
                clear_dag_run(dag_id, run.run_id, dry_run=False, session=session)
            steps.append(BackfillStep(info.logical_date, run.run_id, Action.RESET))
        elif rerun_failed_tasks:
            if not dry_run:
                failed = find_task_instances_to_clear(
                    dag,
                    start_date=run.logical_date,
                    end_date=run.logical_date,
                    only_failed=True,
                    lock=True,
                    session=session,
                )
                clear_task_instances(
                    [ti for ti, _ in failed], dag=dag, reset_dag_runs=True, session=session
                )
            steps.append(BackfillStep(info.logical_date, run.run_id, Action.RERUN_FAILED))
        else:
            steps.append(BackfillStep(info.logical_date, run.run_id, Action.SKIPPED))
    session.flush()
    return steps


def run_states(dag_id: str, run_ids: list[str], *, session: Session) -> dict[str, str]:
    """The current state of each of the runs (for waiting on a backfill)."""
    rows = session.execute(
        select(models.DagRun.run_id, models.DagRun.state).where(
            models.DagRun.dag_id == dag_id, models.DagRun.run_id.in_(run_ids)
        )
    )
    return {run_id: state for run_id, state in rows}
