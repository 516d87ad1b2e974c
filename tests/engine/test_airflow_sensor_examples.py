"""Airflow 2.10.5's own sensor example DAGs, unchanged, on a real scheduler and triggerer.

The files come from the apache-airflow wheel, downloaded here at run time (as
`scripts/airflow-examples` does); nothing of Airflow is kept in the repository. Each manual run
ends as it does on Airflow 2.10.5, where two of them cannot finish within a test:
`example_sensors`' `timeout_after_second_date_in_the_future_async` (a `TimeSensorAsync`, which
ignores `timeout` in 2.10.5) waits an hour in the triggerer, and
`example_external_task_marker_child`'s `child_task2` watches a task group the parent does not
have, so it reschedules until its 600 s timeout. Everything else must reach its final state.

It checks that DAG files load and behave as on Airflow, which does not depend on the metadata
database, so it runs in the SQLite pass only (the engine's PostgreSQL paths have tests of their
own); CI's time budget is the reason.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import PG_URL
from tests.engine.conftest import Engine, wait_for

FILES = (
    "example_sensors.py",
    "example_sensor_decorator.py",
    "example_time_delta_sensor_async.py",
    "example_external_task_marker_dag.py",
)
PARENT, CHILD = "example_external_task_marker_parent", "example_external_task_marker_child"
DAG_IDS = ("example_sensors", "example_sensor_decorator", "example_time_delta_sensor_async")


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    return {"AEROVANE__TRIGGERER__JOB_HEARTBEAT_SEC": "0.5"}


@pytest.fixture
def examples(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """The four example files in the engine's DAGs folder, and a running triggerer."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "--no-deps", "-d", str(tmp_path), "apache-airflow==2.10.5"],
        check=True, timeout=600,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("apache_airflow-2.10.5-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for name in FILES:
            (engine.dags / name).write_bytes(zf.read(f"airflow/example_dags/{name}"))
    triggerer = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "triggerer"],
        env=engine.env,
        stdout=subprocess.DEVNULL,
        stderr=open(engine.home / "triggerer.log", "wb"),  # noqa: SIM115
    )
    try:
        yield engine
    finally:
        triggerer.send_signal(signal.SIGTERM)
        try:
            triggerer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            triggerer.kill()
            triggerer.wait()


def _import_errors() -> list[str]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = session.scalars(select(models.ImportErrorModel.stacktrace))
        return list(rows)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(bool(PG_URL), reason="DAG-file compatibility: the SQLite pass runs it")
def test_airflow_sensor_examples_run_as_on_airflow(examples: Engine) -> None:
    engine = examples
    for dag_id in (*DAG_IDS, PARENT, CHILD):
        engine.wait_dag(dag_id, timeout=180)
    assert _import_errors() == []
    runs = {dag_id: engine.trigger(dag_id) for dag_id in DAG_IDS}
    # The child's sensor watches the parent's run at its own logical date.
    logical = dt.datetime.now(dt.UTC).replace(microsecond=0)
    parent = engine.trigger(PARENT, logical_date=logical)
    child = engine.trigger(CHILD, logical_date=logical)

    for dag_id in ("example_sensor_decorator", "example_time_delta_sensor_async"):
        assert engine.wait_run(dag_id, runs[dag_id], 300) == "success", dag_id
    assert engine.wait_run(PARENT, parent, 300) == "success"

    def child_waits_on_the_group() -> bool:
        tis = engine.tis(CHILD, child)
        return tis["child_task1"].state == "success" and tis["child_task2"].state in (
            "up_for_reschedule",
            "scheduled",
            "queued",
            "running",
        )

    wait_for(child_waits_on_the_group, 300, "child_task1 to succeed and child_task2 to wait")
    assert engine.tis(CHILD, child)["child_task2"].try_number == 1

    # Every task of example_sensors final, but the hour-long TimeSensorAsync and its downstream.
    waiting = {"timeout_after_second_date_in_the_future_async", "print_date_in_bash"}

    def sensors_settled() -> dict[str, str | None] | None:
        states = {
            t: ti.state for t, ti in engine.tis("example_sensors", runs["example_sensors"]).items()
        }
        done = all(
            s in ("success", "skipped", "failed") for t, s in states.items() if t not in waiting
        )
        return states if done else None

    states = wait_for(sensors_settled, 600, "example_sensors' tasks to settle")
    # Near midnight "an hour from now" is earlier today: those time sensors then succeed; on a
    # Monday the day-of-week sensor does.
    either = {"success", "skipped"}
    expected: dict[str, set[str | None]] = {
        "wait_some_seconds": {"success"},
        "wait_some_seconds_async": {"success"},
        "fire_immediately": {"success"},
        "fire_immediately_async": {"success"},
        "timeout_after_second_date_in_the_future": either,
        "timeout_after_second_date_in_the_future_async": {"deferred", "success"},
        "Sensor_succeeds": {"success"},
        "Sensor_fails_after_3_seconds": {"skipped"},
        "remove_file": {"success"},
        "wait_for_file": {"success"},
        "wait_for_file_async": {"success"},
        "create_file_after_3_seconds": {"success"},
        "success_sensor_python": {"success"},
        "failure_timeout_sensor_python": {"skipped"},
        "week_day_sensor_failing_on_timeout": either,
        "print_date_in_bash": {None, "scheduled", "queued", "running", "success"},
    }
    assert set(states) == set(expected)
    for task_id, state in states.items():
        assert state in expected[task_id], (task_id, state)
    if states["timeout_after_second_date_in_the_future_async"] == "deferred":
        async_ti = engine.tis("example_sensors", runs["example_sensors"])[
            "timeout_after_second_date_in_the_future_async"
        ]
        assert async_ti.trigger_id is not None and async_ti.next_method == "execute_complete"
