"""The triggerer loop over a real database: a fired trigger's outcome survives a database that
refuses it for a while (a restart) and is written in a later pass."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks._trigger_storm import free_port
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from aerovane.authoring import DAG, BashOperator
from aerovane.authoring.serialization import serialize_dag
from aerovane.config import reload_settings
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session, dispose_engines
from aerovane.db.types import utcnow
from aerovane.services.dag_runs import trigger_dag_run
from aerovane.services.triggers import defer_task_instance
from aerovane.triggerer.job import Triggerer
from tests.conftest import PG_URL

TI = models.TaskInstance


@pytest.fixture
def deferred(db: Path) -> tuple[str, str]:
    """A run whose only task is deferred on a trigger that fires at once."""
    with DAG("waits", schedule=None, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)) as d:
        BashOperator(task_id="wait", bash_command="true")
    with create_session() as session:
        store_parse_result("/dags/waits.py", [serialize_dag(d)], None, session=session)
        run_id = trigger_dag_run("waits", session=session).run_id
        ti = session.scalars(select(TI).where(TI.run_id == run_id)).one()
        ti.state, ti.try_number = "running", 1
        session.flush()
        assert defer_task_instance(
            [TI.run_id == run_id, TI.task_id == "wait"],
            classpath="aerovane.authoring.triggers.temporal.DateTimeTrigger",
            trigger_kwargs={"moment": utcnow().isoformat()},
            next_method="resume",
            next_kwargs=None,
            timeout_at=None,
            values={},
            session=session,
        )
    return run_id, "wait"


@pytest.fixture
def triggerer(deferred: tuple[str, str]) -> Iterator[Triggerer]:
    job = Triggerer()
    job.on_start()
    try:
        yield job
    finally:
        job.on_stop()


def _state(run_id: str) -> tuple[str, str | None]:
    with create_session(readonly=True) as session:
        ti = session.scalars(select(TI).where(TI.run_id == run_id)).one()
        return str(ti.state), ti.next_method


def test_an_outcome_the_database_refused_is_written_in_a_later_pass(
    deferred: tuple[str, str], triggerer: Triggerer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Found by the fault suite: the event was dropped, and its task stayed deferred for good."""
    run_id, _ = deferred
    with monkeypatch.context() as patched:
        patched.setattr(triggerer, "_write_outcomes", lambda: None)  # claim and start only
        triggerer.run_once()
    deadline = time.monotonic() + 120
    while not triggerer.runner._outcomes.events:
        assert time.monotonic() < deadline, "the trigger did not fire in 120 s"
        time.sleep(0.05)

    # The database goes away: nothing listens where it was.
    down = (
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone"
        if PG_URL
        else f"sqlite:///{tmp_path}/no-such-folder/gone.db"
    )
    with monkeypatch.context() as patched:
        patched.setenv("AEROVANE__DATABASE__SQL_ALCHEMY_CONN", down)
        dispose_engines()
        reload_settings()
        with pytest.raises(OperationalError):
            triggerer._write_outcomes()
    dispose_engines()
    reload_settings()
    assert _state(run_id) == ("deferred", "resume")

    triggerer._write_outcomes()  # the database is back
    assert _state(run_id) == ("scheduled", "resume")
