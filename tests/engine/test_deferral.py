"""Deferrable tasks end to end: a real scheduler process (tests/engine/conftest.py) and real
`aerovane triggerer` processes. A task defers, the triggerer fires its trigger, the task resumes
in `method_name` on a worker; a SIGKILLed triggerer's triggers are taken over by another; two
triggerers share the triggers without running one twice; timeouts and broken triggers fail the
task."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.engine.conftest import Engine, wait_for

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

DAG_FILES = {
    "probe_triggers.py": """
        # A user trigger next to the DAGs, importable by the triggerer (the DAGs folder is on
        # its sys.path). Records each start of run() in the `log` file: "<name> <pid>".
        import asyncio, os, pathlib
        from airflow.triggers.base import BaseTrigger, TriggerEvent

        class ProbeTrigger(BaseTrigger):
            def __init__(self, name, log, wait_for=None, fail=False):
                super().__init__()
                self.name, self.log_file, self.wait_for, self.fail = name, log, wait_for, fail

            def serialize(self):
                return ("probe_triggers.ProbeTrigger", {"name": self.name, "log": self.log_file,
                        "wait_for": self.wait_for, "fail": self.fail})

            async def run(self):
                with open(self.log_file, "a") as out:
                    out.write(f"{self.name} {os.getpid()}\\n")
                self.log.info("probe %s waiting for %s", self.name, self.wait_for)
                if self.fail:
                    raise ValueError("probe trigger broke")
                while self.wait_for and not os.path.exists(self.wait_for):
                    await asyncio.sleep(0.05)
                yield TriggerEvent({"name": self.name})
    """,
    "deferring.py": f"""
        import datetime, pathlib
        from airflow import DAG
        from airflow.models.baseoperator import BaseOperator
        from airflow.triggers.temporal import TimeDeltaTrigger
        from probe_triggers import ProbeTrigger

        class Deferring(BaseOperator):
            template_fields = ("effects", "wait_for", "log_file")

            def __init__(self, effects, wait_for=None, log="", timeout=None, fail=False, **kw):
                super().__init__(**kw)
                self.effects, self.wait_for, self.log_file = effects, wait_for, log
                self.timeout, self.fail = timeout, fail

            def execute(self, context):
                context["ti"].xcom_push(key="before", value="kept")
                if self.wait_for is None and not self.log_file:
                    trigger = TimeDeltaTrigger(datetime.timedelta(seconds=0))
                else:
                    trigger = ProbeTrigger(self.task_id, self.log_file, self.wait_for, self.fail)
                self.defer(trigger=trigger, method_name="resume", kwargs={{"extra": 7}},
                           timeout=self.timeout)

            def resume(self, context, event=None, extra=None):
                with open(self.effects, "a") as out:
                    out.write(f"{{self.task_id}} {{context['ti'].try_number}}\\n")
                return {{"event": event, "extra": extra}}

        with DAG("deferring", schedule=None, start_date={START},
                 params={{"effects": "", "wait": "", "log": ""}}):
            Deferring(task_id="wait", effects="{{{{ params.effects }}}}")
            Deferring(task_id="probe", effects="{{{{ params.effects }}}}",
                      wait_for="{{{{ params.wait }}}}", log="{{{{ params.log }}}}")

        with DAG("many_deferred", schedule=None, start_date={START},
                 params={{"effects": "", "wait": "", "log": ""}}):
            for i in range(12):
                Deferring(task_id=f"t{{i}}", effects="{{{{ params.effects }}}}",
                          wait_for="{{{{ params.wait }}}}", log="{{{{ params.log }}}}")

        with DAG("deferral_fails", schedule=None, start_date={START},
                 params={{"effects": "", "wait": "", "log": ""}}):
            Deferring(task_id="times_out", effects="{{{{ params.effects }}}}",
                      wait_for="{{{{ params.wait }}}}", log="{{{{ params.log }}}}",
                      timeout=datetime.timedelta(seconds=0.5))
            Deferring(task_id="broken", effects="{{{{ params.effects }}}}",
                      log="{{{{ params.log }}}}", fail=True)
    """,
    "external_deferred.py": f"""
        import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        from airflow.sensors.external_task import ExternalTaskSensor
        from airflow.utils.task_group import TaskGroup

        with DAG("grouped_upstream", schedule=None, start_date={START}, params={{"code": 0}}):
            with TaskGroup("grp"):
                BashOperator(task_id="one", bash_command="exit 0")
                BashOperator(task_id="two", bash_command="exit {{{{ params.code }}}}")

        with DAG("external_deferred", schedule=None, start_date={START}):
            ExternalTaskSensor(task_id="group", external_dag_id="grouped_upstream",
                               external_task_group_id="grp", failed_states=["failed"],
                               deferrable=True, poll_interval=0.2, check_existence=True)
            ExternalTaskSensor(task_id="run", external_dag_id="grouped_upstream",
                               failed_states=["failed"], soft_fail=True, deferrable=True,
                               poll_interval=0.2)
    """,
    "async_sensors.py": f"""
        import datetime
        from airflow import DAG
        from airflow.sensors.date_time import DateTimeSensorAsync
        from airflow.sensors.filesystem import FileSensor
        from airflow.sensors.time_delta import TimeDeltaSensorAsync
        from airflow.sensors.time_sensor import TimeSensorAsync

        with DAG("async_sensors", schedule=None, start_date={START}, params={{"wait": ""}}):
            DateTimeSensorAsync(task_id="date_time", target_time="{{{{ logical_date }}}}")
            TimeDeltaSensorAsync(task_id="time_delta", delta=datetime.timedelta(seconds=1))
            TimeSensorAsync(task_id="time", target_time=datetime.time(0, 0))
            FileSensor(task_id="file", filepath="{{{{ params.wait }}}}", deferrable=True,
                       poke_interval=0.1)
    """,
}


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    return {
        "AEROVANE__TRIGGERER__JOB_HEARTBEAT_SEC": "0.2",
        "AEROVANE__TRIGGERER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "0.2",
    }


class Triggerers:
    """`aerovane triggerer` processes a test starts; all stopped at the end."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        proc = subprocess.Popen(
            [sys.executable, "-m", "aerovane", "triggerer", *args],
            env=self.engine.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.engine.home / f"triggerer-{n}.log", "wb"),  # noqa: SIM115
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def triggerers(engine: Engine) -> Iterator[Triggerers]:
    started = Triggerers(engine)
    try:
        yield started
    finally:
        started.stop_all()


def _triggers() -> list[Any]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return list(session.execute(select(models.Trigger.id, models.Trigger.triggerer_id)))


def _job_of(pid: int) -> int | None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return session.scalar(
            select(models.Job.id).where(
                models.Job.pid == pid, models.Job.job_type == "TriggererJob"
            )
        )


def _xcom(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.runtime import xcom

    with create_session(readonly=True) as session:
        run_pk = session.scalar(
            select(models.DagRun.id).where(
                models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
            )
        )
    return xcom.pull(dag_run_id=run_pk, task_ids=[task_id], key=key).get(task_id)


def _params(tmp_path: Path) -> dict[str, str]:
    return {
        "effects": str(tmp_path / "effects"),
        "wait": str(tmp_path / "go"),
        "log": str(tmp_path / "runs"),
    }


def test_deferred_task_resumes_in_method_name(
    engine: Engine, triggerers: Triggerers, tmp_path: Path
) -> None:
    engine.wait_dag("deferring")
    triggerers.start()
    conf = _params(tmp_path)
    run_id = engine.trigger("deferring", conf=conf)
    # "probe" waits for the `go` file: it must be deferred, its slot free, its trigger claimed.
    wait_for(
        lambda: (
            engine.tis("deferring", run_id)["probe"].state == "deferred"
            and all(owner is not None for _, owner in _triggers())
        ),
        60,
        "probe to be deferred and its trigger claimed",
    )
    probe = engine.tis("deferring", run_id)["probe"]
    assert probe.next_method == "resume" and probe.trigger_id is not None
    Path(conf["wait"]).touch()
    assert engine.wait_run("deferring", run_id, 60) == "success"

    tis = engine.tis("deferring", run_id)
    assert {t: ti.try_number for t, ti in tis.items()} == {"wait": 1, "probe": 1}
    assert all(ti.next_method is None and ti.trigger_id is None for ti in tis.values())
    assert sorted(Path(conf["effects"]).read_text().splitlines()) == ["probe 1", "wait 1"]
    assert _xcom("deferring", run_id, "probe") == {"event": {"name": "probe"}, "extra": 7}
    assert _xcom("deferring", run_id, "probe", "before") == "kept"  # the deferral kept it
    assert _triggers() == []
    log = engine.log("deferring", run_id, "probe")
    assert "Pausing task as DEFERRED" in log
    assert "probe probe waiting for" in log  # the trigger's own line, from the triggerer
    assert "Resuming after deferral in resume" in log


def test_sigkilled_triggerer_is_replaced_and_task_completes_once(
    engine: Engine, triggerers: Triggerers, tmp_path: Path
) -> None:
    engine.wait_dag("deferring")
    first = triggerers.start()
    conf = _params(tmp_path)
    run_id = engine.trigger("deferring", conf=conf)
    wait_for(lambda: _job_of(first.pid), 60, "the first triggerer's job")
    first_job = _job_of(first.pid)
    wait_for(
        lambda: (
            engine.tis("deferring", run_id)["probe"].state == "deferred"
            and [owner for _, owner in _triggers()] == [first_job]
        ),
        60,
        "the first triggerer to run probe's trigger",
    )
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = triggerers.start()
    wait_for(lambda: _job_of(second.pid), 60, "the second triggerer's job")
    second_job = _job_of(second.pid)
    wait_for(
        lambda: [owner for _, owner in _triggers()] == [second_job],
        60,
        "the second triggerer to take probe's trigger over",
    )
    Path(conf["wait"]).touch()
    assert engine.wait_run("deferring", run_id, 60) == "success"
    effects = Path(conf["effects"]).read_text().splitlines()
    assert effects.count("probe 1") == 1
    runs = Path(conf["log"]).read_text().split()
    assert runs == ["probe", str(first.pid), "probe", str(second.pid)]


def test_two_triggerers_share_triggers_without_running_one_twice(
    engine: Engine, triggerers: Triggerers, tmp_path: Path
) -> None:
    engine.wait_dag("many_deferred")
    # 12 triggers, at most 8 each: both triggerers must run some.
    procs = [triggerers.start("--capacity", "8"), triggerers.start("--capacity", "8")]
    conf = _params(tmp_path)
    run_id = engine.trigger("many_deferred", conf=conf)
    starts = Path(conf["log"])
    wait_for(
        lambda: (
            starts.exists()
            and len(starts.read_text().splitlines()) >= 12
            and all(ti.state == "deferred" for ti in engine.tis("many_deferred", run_id).values())
        ),
        90,
        "all 12 triggers to start",
    )
    Path(conf["wait"]).touch()
    assert engine.wait_run("many_deferred", run_id, 90) == "success"
    runs = [line.split() for line in starts.read_text().splitlines()]
    names = [name for name, _ in runs]
    assert sorted(names) == sorted(f"t{i}" for i in range(12))  # each trigger ran once
    assert {int(pid) for _, pid in runs} == {p.pid for p in procs}
    effects = Path(conf["effects"]).read_text().splitlines()
    assert sorted(effects) == sorted(f"t{i} 1" for i in range(12))


def test_timeout_and_broken_trigger_fail_the_task(
    engine: Engine, triggerers: Triggerers, tmp_path: Path
) -> None:
    engine.wait_dag("deferral_fails")
    triggerers.start()
    conf = _params(tmp_path)
    run_id = engine.trigger("deferral_fails", conf=conf)
    assert engine.wait_run("deferral_fails", run_id, 60) == "failed"
    tis = engine.tis("deferral_fails", run_id)
    assert {t: ti.state for t, ti in tis.items()} == {"times_out": "failed", "broken": "failed"}
    assert not Path(conf["effects"]).exists()  # neither resumed into `resume`
    assert "Trigger timeout" in engine.log("deferral_fails", run_id, "times_out")
    broken = engine.log("deferral_fails", run_id, "broken")
    assert "probe trigger broke" in broken and "Trigger failed" in broken
    # The timed-out task's trigger is dropped by the triggerer's next pass.
    wait_for(lambda: _triggers() == [], 60, "the unused trigger to be deleted")
    assert os.path.exists(conf["log"])  # the broken trigger did run


def test_async_sensors_wait_in_the_triggerer(
    engine: Engine, triggerers: Triggerers, tmp_path: Path
) -> None:
    engine.wait_dag("async_sensors")
    triggerers.start()
    wait = tmp_path / "ready.txt"
    run_id = engine.trigger("async_sensors", conf={"wait": str(wait)})
    wait_for(
        lambda: engine.tis("async_sensors", run_id)["file"].state == "deferred",
        60,
        "the deferrable FileSensor to defer",
    )
    wait.write_text("x")
    assert engine.wait_run("async_sensors", run_id, 60) == "success"
    tis = engine.tis("async_sensors", run_id)
    assert {t: (ti.state, ti.try_number) for t, ti in tis.items()} == {
        t: ("success", 1) for t in ("date_time", "time_delta", "time", "file")
    }
    for task_id in ("date_time", "time", "file"):
        log = engine.log("async_sensors", run_id, task_id)
        assert "Pausing task as DEFERRED" in log, task_id
        assert "Resuming after deferral in execute_complete" in log, task_id
    # One second after the run's data interval: deferred, unless that passed before it started.
    log = engine.log("async_sensors", run_id, "time_delta")
    assert "Resuming after deferral in execute_complete" in log or "not deferring" in log
    assert "file completed successfully" in engine.log("async_sensors", run_id, "file")


@pytest.mark.parametrize("code", [0, 1])
def test_deferrable_external_task_sensor_waits_in_the_triggerer(
    engine: Engine, triggerers: Triggerers, code: int
) -> None:
    """A task group and a whole run of another DAG, watched by `WorkflowTrigger` in the
    triggerer (it reads the metadata there); failure fails the sensor, or skips it with
    soft_fail."""
    import datetime as dt

    engine.wait_dag("grouped_upstream")
    engine.wait_dag("external_deferred")
    triggerers.start()
    logical = dt.datetime(2025, 7, 1 + code, tzinfo=dt.UTC)
    down = engine.trigger("external_deferred", logical_date=logical)
    wait_for(
        lambda: all(
            ti.state == "deferred" for ti in engine.tis("external_deferred", down).values()
        ),
        60,
        "both external task sensors to defer",
    )
    up = engine.trigger("grouped_upstream", logical_date=logical, conf={"code": code})
    assert engine.wait_run("grouped_upstream", up, 60) == ("success", "failed")[code]
    engine.wait_run("external_deferred", down, 60)
    tis = engine.tis("external_deferred", down)
    expected = {"group": "success", "run": "success"} if code == 0 else {
        "group": "failed", "run": "skipped"
    }  # fmt: skip
    assert {t: ti.state for t, ti in tis.items()} == expected
    assert all(ti.try_number == 1 for ti in tis.values())
    log = engine.log("external_deferred", down, "group")
    assert "Pausing task as DEFERRED" in log
    assert "Resuming after deferral in execute_complete" in log
    if code:
        assert "Error occurred while trying to retrieve task status" in log
        assert "External job has failed skipping" in engine.log("external_deferred", down, "run")


def test_marking_a_deferred_task_drops_its_trigger(
    engine: Engine, triggerers: Triggerers, tmp_path: Path
) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.services.dag_bag import get_serialized_dag
    from aerovane.services.task_instances import set_task_instance_state

    engine.wait_dag("deferring")
    triggerers.start()
    conf = _params(tmp_path)
    run_id = engine.trigger("deferring", conf=conf)
    wait_for(
        lambda: (
            engine.tis("deferring", run_id)["probe"].state == "deferred"
            and any(owner is not None for _, owner in _triggers())
        ),
        60,
        "probe to be deferred and its trigger claimed",
    )
    with create_session() as session:
        run = session.scalar(
            select(models.DagRun).where(
                models.DagRun.dag_id == "deferring", models.DagRun.run_id == run_id
            )
        )
        dag = get_serialized_dag("deferring", session=session)
        set_task_instance_state(
            dag, task_id="probe", run=run, state="success", commit=True, session=session
        )
    probe = engine.tis("deferring", run_id)["probe"]
    assert (probe.state, probe.trigger_id, probe.next_method) == ("success", None, None)
    wait_for(lambda: _triggers() == [], 60, "the triggerer to drop the unused trigger")
    assert engine.wait_run("deferring", run_id, 60) == "success"
    Path(conf["wait"]).touch()  # too late: nothing resumes "probe" any more
    assert Path(conf["effects"]).read_text().splitlines() == ["wait 1"]
