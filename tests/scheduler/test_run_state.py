"""A run's state follows its task instances in the loop's own passes, with no event saying so:
the scheduler must not wait for a trigger or a task's poke to finish a run whose task
instances all ended (e.g. ended while no scheduler ran)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from aerovane.authoring import DAG, BashOperator
from aerovane.authoring.serialization import serialize_dag
from aerovane.config import reload_settings
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.executors.local import LocalExecutor
from aerovane.executors.zygote import ProcessFactory
from aerovane.scheduler.job import Scheduler
from aerovane.services.dag_runs import trigger_dag_run


@pytest.fixture
def scheduler(db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scheduler]:
    monkeypatch.setenv("AEROVANE__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", "0.05")
    reload_settings()
    with DAG("quiet", schedule=None, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)) as d:
        BashOperator(task_id="a", bash_command="true") >> BashOperator(
            task_id="b", bash_command="true"
        )
    with create_session() as session:
        store_parse_result("/dags/quiet.py", [serialize_dag(d)], None, session=session)
    factory = ProcessFactory()
    factory.start()
    sched = Scheduler(LocalExecutor(parallelism=4, factory=factory))
    sched.on_start()
    try:
        yield sched
    finally:
        sched.on_stop()
        factory.stop()


def test_run_whose_task_instances_all_ended_is_finished_without_an_event(
    scheduler: Scheduler,
) -> None:
    scheduler.run_once()  # the start-up pass; from here on nothing wakes the loop
    with create_session() as session:
        run_id = trigger_dag_run("quiet", session=session).run_id
        session.execute(
            update(models.DagRun).where(models.DagRun.run_id == run_id).values(state="running")
        )
        session.execute(
            update(models.TaskInstance)
            .where(models.TaskInstance.run_id == run_id)
            .values(state="success", try_number=1)
        )

    def run_state() -> str | None:
        with create_session(readonly=True) as session:
            return session.scalar(select(models.DagRun.state).where(models.DagRun.run_id == run_id))

    deadline = time.monotonic() + 120
    while run_state() == "running" and time.monotonic() < deadline:
        scheduler.run_once()  # passes as a stream of process-exit wake-ups would drive them
        time.sleep(0.01)
    assert run_state() == "success"
