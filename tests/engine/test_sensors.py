"""Sensors end to end through the real scheduler and task processes: poke and reschedule modes,
the scheduler bringing a rescheduled sensor back in the same try, timeouts across reschedules,
soft_fail, PokeReturnValue XComs and ExternalTaskSensor on another DAG's task."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.engine.conftest import Engine, wait_for

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

DAG_FILES = {
    "file_wait.py": f"""
        import datetime
        from airflow import DAG
        from airflow.sensors.filesystem import FileSensor
        from airflow.operators.bash import BashOperator
        with DAG("file_wait", schedule=None, start_date={START}, params={{"path": ""}}):
            FileSensor(task_id="wait", filepath="{{{{ params.path }}}}", mode="reschedule",
                       poke_interval=0.2, timeout=120, retries=2) >> BashOperator(
                task_id="after", bash_command="echo found")
    """,
    "bash_wait.py": f"""
        import datetime
        from airflow import DAG
        from airflow.sensors.bash import BashSensor
        with DAG("bash_wait", schedule=None, start_date={START}, params={{"path": ""}}):
            BashSensor(task_id="poke_mode", bash_command="test -f {{{{ params.path }}}}",
                       poke_interval=0.1, timeout=120)
    """,
    "never.py": f"""
        import datetime
        from airflow import DAG
        from airflow.sensors.python import PythonSensor
        with DAG("never", schedule=None, start_date={START}):
            PythonSensor(task_id="times_out", python_callable=lambda: False,
                         mode="reschedule", poke_interval=0.1, timeout=2, retries=3)
            PythonSensor(task_id="soft", python_callable=lambda: False,
                         mode="reschedule", poke_interval=0.1, timeout=1, soft_fail=True)
            PythonSensor(task_id="soft_poke", python_callable=lambda: False,
                         poke_interval=0.1, timeout=0.5, soft_fail=True)
    """,
    "counted.py": f"""
        import datetime, pathlib
        from airflow.decorators import dag, task
        from airflow.sensors.base import PokeReturnValue

        def bump(path):
            counter = pathlib.Path(path)
            n = int(counter.read_text()) + 1 if counter.exists() else 1
            counter.write_text(str(n))
            return n

        @dag(schedule=None, start_date={START})
        def counted(directory: str = ""):
            @task.sensor(poke_interval=0.1, timeout=120, mode="reschedule")
            def third_poke(params=None):
                n = bump(params["directory"] + "/rescheduled")
                return PokeReturnValue(is_done=n >= 3, xcom_value={{"pokes": n}})

            @task.sensor(poke_interval=0.1, timeout=120, mode="poke")
            def third_poke_in_place(params=None):
                n = bump(params["directory"] + "/poked")
                return PokeReturnValue(is_done=n >= 3, xcom_value=n * 10)

            @task
            def report(a, b):
                return [a["pokes"], b]

            report(third_poke(), third_poke_in_place())

        counted()
    """,
    "rapid.py": f"""
        import datetime, pathlib
        from airflow.decorators import dag, task

        @dag(schedule=None, start_date={START})
        def rapid(directory: str = ""):
            @task.sensor(poke_interval=0, timeout=120, mode="reschedule")
            def tenth_poke(params=None):
                counter = pathlib.Path(params["directory"]) / "pokes"
                n = int(counter.read_text()) + 1 if counter.exists() else 1
                counter.write_text(str(n))
                return n >= 10

            tenth_poke()

        rapid()
    """,
    "clock.py": f"""
        import datetime
        from airflow import DAG
        from airflow.sensors.date_time import DateTimeSensor
        from airflow.sensors.time_delta import TimeDeltaSensor
        from airflow.sensors.time_sensor import TimeSensor
        with DAG("clock", schedule=None, start_date={START}, params={{"at": ""}}):
            DateTimeSensor(task_id="at", target_time="{{{{ params.at }}}}", mode="reschedule",
                           poke_interval=0.2, timeout=120)
            TimeDeltaSensor(task_id="after", delta=datetime.timedelta(seconds=1),
                            poke_interval=0.2, timeout=120)
            TimeSensor(task_id="never_today", target_time=datetime.time.max, mode="reschedule",
                       poke_interval=0.1, timeout=1, soft_fail=True)
    """,
    "weekday.py": f"""
        import datetime
        from airflow import DAG
        from airflow.sensors.weekday import DayOfWeekSensor
        from airflow.utils.weekday import WeekDay
        with DAG("weekday", schedule=None, start_date={START}):
            DayOfWeekSensor(task_id="tuesday", week_day="Tuesday", use_task_logical_date=True,
                            poke_interval=0.1, timeout=5)
            DayOfWeekSensor(task_id="sunday", week_day={{WeekDay.SUNDAY}}, mode="reschedule",
                            use_task_logical_date=True, poke_interval=0.1, timeout=0.5,
                            soft_fail=True)
    """,
    "upstream_dag.py": f"""
        import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        with DAG("upstream_dag", schedule=None, start_date={START}, params={{"code": 0}}):
            BashOperator(task_id="produce", bash_command="exit {{{{ params.code }}}}")
    """,
    "downstream_dag.py": f"""
        import datetime
        from airflow import DAG
        from airflow.sensors.external_task import ExternalTaskSensor
        with DAG("downstream_dag", schedule=None, start_date={START}):
            ExternalTaskSensor(task_id="wait_task", external_dag_id="upstream_dag",
                               external_task_id="produce", failed_states=["failed"],
                               mode="reschedule", poke_interval=0.2, timeout=120,
                               check_existence=True)
            ExternalTaskSensor(task_id="wait_run", external_dag_id="upstream_dag",
                               failed_states=["failed"], mode="poke", poke_interval=0.2,
                               timeout=120)
    """,
}


def test_sensor_dags_parse(engine: Engine) -> None:
    for dag_id in (
        "clock",
        "weekday",
        "file_wait",
        "bash_wait",
        "never",
        "counted",
        "rapid",
        "upstream_dag",
        "downstream_dag",
    ):
        engine.wait_dag(dag_id)


def _ti_state(engine: Engine, dag_id: str, run_id: str, task_id: str) -> str | None:
    ti = engine.tis(dag_id, run_id).get(task_id)
    return ti.state if ti is not None else None


def _reschedules(dag_id: str, run_id: str, task_id: str) -> list[Any]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    tr = models.TaskReschedule
    with create_session(readonly=True) as session:
        rows = session.scalars(
            select(tr)
            .where(tr.dag_id == dag_id, tr.run_id == run_id, tr.task_id == task_id)
            .order_by(tr.id)
        ).all()
        session.expunge_all()
        return list(rows)


def _history(dag_id: str, run_id: str, task_id: str) -> list[Any]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    tih = models.TaskInstanceHistory
    with create_session(readonly=True) as session:
        return list(
            session.scalars(
                select(tih.try_number).where(
                    tih.dag_id == dag_id, tih.run_id == run_id, tih.task_id == task_id
                )
            )
        )


def test_file_sensor_reschedules_until_the_file_appears(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "arrived.csv"
    engine.wait_dag("file_wait")
    run_id = engine.trigger("file_wait", conf={"path": str(target)})
    wait_for(
        lambda: _ti_state(engine, "file_wait", run_id, "wait") == "up_for_reschedule",
        30,
        "the sensor to be up_for_reschedule",
    )
    first = _reschedules("file_wait", run_id, "wait")
    assert first and first[0].try_number == 1
    assert first[0].end_date >= first[0].start_date
    assert first[0].reschedule_date > first[0].start_date
    # The slot is free: nothing of this run is running while the sensor waits.
    target.write_text("a,b\n")
    assert engine.wait_run("file_wait", run_id) == "success"
    tis = engine.tis("file_wait", run_id)
    assert tis["wait"].state == "success" and tis["after"].state == "success"
    # Every poke was the same try (no retries used, no archived tries), and each poke after a
    # reschedule started no earlier than the date it was rescheduled to.
    assert tis["wait"].try_number == 1
    assert _history("file_wait", run_id, "wait") == []
    rows = _reschedules("file_wait", run_id, "wait")
    assert all(r.try_number == 1 for r in rows)
    for earlier, later in itertools.pairwise(rows):
        assert later.start_date >= earlier.reschedule_date
    assert tis["wait"].start_date >= rows[-1].reschedule_date
    log = engine.log("file_wait", run_id, "wait")
    assert "Poking for file" in log and "UP_FOR_RESCHEDULE" in log
    assert "Success criteria met" in log


def test_bash_sensor_in_poke_mode_keeps_its_attempt(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "flag"
    engine.wait_dag("bash_wait")
    run_id = engine.trigger("bash_wait", conf={"path": str(target)})
    wait_for(
        lambda: "Command exited with return code 1" in engine.log("bash_wait", run_id, "poke_mode"),
        30,
        "a failed poke in the log",
    )
    assert _ti_state(engine, "bash_wait", run_id, "poke_mode") == "running"
    target.write_text("")
    assert engine.wait_run("bash_wait", run_id) == "success"
    assert _reschedules("bash_wait", run_id, "poke_mode") == []
    assert engine.tis("bash_wait", run_id)["poke_mode"].try_number == 1


def test_timeout_counts_across_reschedules_and_soft_fail_skips(engine: Engine) -> None:
    engine.wait_dag("never")
    run_id = engine.trigger("never")
    assert engine.wait_run("never", run_id, timeout=60) == "failed"
    tis = engine.tis("never", run_id)
    # Each poke lasts far less than the 2 s timeout; only the time since the first poke of the
    # first try can exceed it. A sensor timeout fails without using the 3 retries.
    assert tis["times_out"].state == "failed" and tis["times_out"].try_number == 1
    assert len(_reschedules("never", run_id, "times_out")) >= 1
    assert "Sensor has timed out" in engine.log("never", run_id, "times_out")
    assert tis["soft"].state == "skipped"
    assert tis["soft_poke"].state == "skipped"
    assert _reschedules("never", run_id, "soft_poke") == []


def test_task_sensor_poke_return_value_in_both_modes(engine: Engine, tmp_path: Path) -> None:
    from aerovane.db.engine import create_session
    from aerovane.runtime import xcom
    from aerovane.services.dag_runs import get_dag_run

    engine.wait_dag("counted")
    run_id = engine.trigger("counted", conf={"directory": str(tmp_path)})
    assert engine.wait_run("counted", run_id) == "success"
    assert len(_reschedules("counted", run_id, "third_poke")) == 2
    assert _reschedules("counted", run_id, "third_poke_in_place") == []
    with create_session(readonly=True) as session:
        run_pk = get_dag_run("counted", run_id, session=session).id
    values = xcom.pull(dag_run_id=run_pk, task_ids=["report"], key=xcom.RETURN_KEY)
    assert values["report"] == [3, 30]


def test_next_poke_waits_for_the_previous_process(engine: Engine, tmp_path: Path) -> None:
    """With poke_interval=0 the next poke is due while the previous poke's process is still
    exiting; both have the same key, and neither may be taken for a dead attempt."""
    engine.wait_dag("rapid")
    run_id = engine.trigger("rapid", conf={"directory": str(tmp_path)})
    assert engine.wait_run("rapid", run_id, timeout=60) == "success"
    ti = engine.tis("rapid", run_id)["tenth_poke"]
    assert ti.state == "success" and ti.try_number == 1
    assert len(_reschedules("rapid", run_id, "tenth_poke")) == 9
    assert (tmp_path / "pokes").read_text() == "10"


def test_time_sensors_wait_for_their_time(engine: Engine) -> None:
    engine.wait_dag("clock")
    now = dt.datetime.now(dt.UTC)
    at = now + dt.timedelta(seconds=1)
    run_id = engine.trigger("clock", conf={"at": at.isoformat()}, logical_date=now)
    assert engine.wait_run("clock", run_id, timeout=60) == "success"
    tis = engine.tis("clock", run_id)
    # Success means the last poke saw the target passed; each ended after its target.
    assert tis["at"].state == "success" and tis["at"].end_date > at
    assert tis["after"].state == "success"
    assert tis["after"].end_date > now + dt.timedelta(seconds=1)
    assert tis["never_today"].state == "skipped"
    assert tis["at"].try_number == tis["never_today"].try_number == 1


def test_day_of_week_sensor_on_the_logical_date(engine: Engine) -> None:
    engine.wait_dag("weekday")
    tuesday = dt.datetime(2024, 3, 5, tzinfo=dt.UTC)
    run_id = engine.trigger("weekday", logical_date=tuesday)
    assert engine.wait_run("weekday", run_id, timeout=60) == "success"
    tis = engine.tis("weekday", run_id)
    assert tis["tuesday"].state == "success" and tis["sunday"].state == "skipped"
    assert len(_reschedules("weekday", run_id, "sunday")) >= 1


@pytest.mark.parametrize("code,expected", [(0, "success"), (3, "failed")])
def test_external_task_sensor_waits_for_the_other_dag(
    engine: Engine, code: int, expected: str
) -> None:
    engine.wait_dag("upstream_dag")
    engine.wait_dag("downstream_dag")
    logical = dt.datetime(2025, 6, 1 + code, tzinfo=dt.UTC)
    down = engine.trigger("downstream_dag", logical_date=logical)
    wait_for(
        lambda: _ti_state(engine, "downstream_dag", down, "wait_task") == "up_for_reschedule",
        30,
        "the external task sensor to be up_for_reschedule",
    )
    wait_for(
        lambda: "Poking for DAG" in engine.log("downstream_dag", down, "wait_run"),
        30,
        "the run sensor to poke",
    )
    up = engine.trigger("upstream_dag", logical_date=logical, conf={"code": code})
    assert engine.wait_run("upstream_dag", up) == expected
    assert engine.wait_run("downstream_dag", down) == expected
    tis = engine.tis("downstream_dag", down)
    assert tis["wait_task"].state == expected
    assert tis["wait_task"].try_number == 1
    if expected == "failed":
        assert "failed." in engine.log("downstream_dag", down, "wait_task")
        assert tis["wait_run"].state == "failed"


def test_dags_test_runs_a_rescheduling_sensor_in_one_try(engine: Engine, tmp_path: Path) -> None:
    """`aerovane dags test` drives the run itself: a rescheduled sensor pokes again in the
    same try there too."""
    import json
    import subprocess
    import sys

    engine.wait_dag("counted")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "aerovane", "dags", "test", "counted", "2025-01-01"),
            *("--conf", json.dumps({"directory": str(tmp_path)})),
        ],
        env=engine.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "finished success" in result.stdout
    run_id = next(r for r in _run_ids("counted") if r.startswith("manual__2025-01-01"))
    tis = engine.tis("counted", run_id)
    assert tis["third_poke"].try_number == 1
    assert len(_reschedules("counted", run_id, "third_poke")) == 2


def _run_ids(dag_id: str) -> list[str]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return list(
            session.scalars(select(models.DagRun.run_id).where(models.DagRun.dag_id == dag_id))
        )
