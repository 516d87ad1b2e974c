"""`aerovane dags test` and `dag.test()` against a live scheduler and executor: the test run is
driven by the testing process alone, and nothing else in the environment changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.engine.conftest import Engine, wait_for

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

DAG_FILES = {
    # Another DAG's long-running task: it waits for a file the test creates.
    "blocker.py": f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("blocker", schedule=None, start_date={START}, params={{"release": ""}}):
            BashOperator(
                task_id="wait",
                bash_command="while [ ! -f '{{{{ params.release }}}}' ]; do sleep 0.05; done",
            )
    """,
    # A paused @daily DAG starting a few days back: unpausing it would start catch-up runs.
    "daily.py": """
        import datetime
        from aerovane.authoring import DAG, task
        start = datetime.datetime.now(datetime.timezone.utc).replace(
            hour=0, minute=0, second=0, microsecond=0
        ) - datetime.timedelta(days=4)
        with DAG("daily", schedule="@daily", start_date=start, catchup=True,
                 is_paused_upon_creation=True) as dag:
            @task
            def extract():
                print("extracted 3 rows")
                return 3

            @task
            def load(n):
                print("loaded", n, "rows")

            load(extract())
    """,
    # An unpaused DAG with two independent tasks: while `dags test` runs `hold`, `free` waits
    # in `scheduled`, where a scheduler that saw the test run would queue it.
    "fanout.py": f"""
        import datetime, os, time
        from aerovane.authoring import DAG, task
        with DAG("fanout", schedule=None, start_date={START}):
            @task(priority_weight=10)
            def hold():
                print("hold is running", flush=True)
                while not os.path.exists(os.environ["FANOUT_RELEASE"]):
                    time.sleep(0.05)

            @task(priority_weight=1)
            def free():
                return 1

            hold()
            free()
    """,
    "interrupted.py": f"""
        import datetime, time
        from aerovane.authoring import DAG, task
        with DAG("interrupted", schedule=None, start_date={START}):
            @task(retries=3)
            def forever():
                print("forever is running", flush=True)
                while True:
                    time.sleep(0.05)

            @task
            def after():
                return 1

            forever() >> after()
    """,
    "ping.py": f"""
        import datetime
        from aerovane.authoring import DAG, EmptyOperator, task
        with DAG("ping", schedule=None, start_date={START}):
            @task
            def pong():
                return 1
            pong()
    """,
    # Deferrable tasks: no triggerer runs in this environment, so only dag.test() running
    # their triggers itself lets the run finish.
    "deferred_test.py": f"""
        import datetime
        from airflow import DAG
        from airflow.models.baseoperator import BaseOperator
        from airflow.sensors.time_delta import TimeDeltaSensorAsync
        from airflow.triggers.base import BaseTrigger, TriggerEvent
        from airflow.triggers.temporal import TimeDeltaTrigger

        class Broken(BaseTrigger):
            def serialize(self):
                return ("deferred_test.Broken", {{}})

            async def run(self):
                raise ValueError("this trigger broke")
                yield

        class Deferring(BaseOperator):
            def __init__(self, broken=False, **kwargs):
                super().__init__(**kwargs)
                self.broken = broken

            def execute(self, context):
                trigger = Broken() if self.broken else TimeDeltaTrigger(
                    datetime.timedelta(seconds=0.2))
                self.defer(trigger=trigger, method_name="done", kwargs={{"n": 5}})

            def done(self, context, event=None, n=0):
                print(f"resumed with n={{n}}", flush=True)
                return n

        with DAG("deferred_test", schedule=None, start_date={START}):
            Deferring(task_id="defers") >> TimeDeltaSensorAsync(
                task_id="sensor", delta=datetime.timedelta(seconds=0))
            Deferring(task_id="broken", broken=True)
    """,
    # The `if __name__ == "__main__": dag.test()` idiom, with a task that waits for the test.
    "streamed.py": """
        import datetime, os, time
        from aerovane.authoring import DAG, task
        with DAG("streamed", schedule=None, start_date=datetime.datetime(2024, 1, 1),
                 is_paused_upon_creation=True) as dag:
            @task
            def first():
                print("first says hi", flush=True)

            @task
            def second():
                release = os.environ["STREAMED_RELEASE"]
                while not os.path.exists(release):
                    time.sleep(0.05)
                print("second saw the release")

            first() >> second()

        if __name__ == "__main__":
            dag.test()
    """,
}


def _rows(model: Any, **where: Any) -> list[Any]:
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        query = select(model).filter_by(**where)
        return list(session.scalars(query))


def _run_count() -> int:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return session.scalar(select(func.count()).select_from(models.DagRun)) or 0


@pytest.fixture
def blocked(engine: Engine, tmp_path: Any) -> Iterator[tuple[str, Any]]:
    """A `blocker` run whose task is running in the scheduler's executor; released (and
    finished) at the end of the test."""
    from aerovane.db import models

    release = tmp_path / "release"
    engine.wait_dag("blocker")
    run_id = engine.trigger("blocker", conf={"release": str(release)})
    wait_for(
        lambda: engine.tis("blocker", run_id)["wait"].state == "running",
        60,
        "the blocker's task to run",
    )
    (ti,) = _rows(models.TaskInstance, dag_id="blocker", run_id=run_id)
    try:
        yield run_id, ti
    finally:
        release.touch()
        engine.wait_run("blocker", run_id, timeout=60)


def _dags_test(engine: Engine, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "dags", "test", *args],
        env=engine.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out), proc.pid


def test_dags_test_leaves_the_environment_alone(engine: Engine, blocked: tuple[str, Any]) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    blocker_run, blocker_ti = blocked
    engine.wait_dag("daily")
    with create_session(readonly=True) as session:
        assert session.get(models.DagModel, "daily").is_paused is True
    runs_before = _run_count()

    result, pid = _dags_test(engine, "daily")

    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert out.index("running extract") < out.index("extracted 3 rows") < out.index("running load")
    assert "loaded 3 rows" in out and "finished success" in out
    # Only its own run, executed by the `dags test` process itself.
    (run,) = _rows(models.DagRun, dag_id="daily")
    assert (run.state, run.run_type, run.triggered_by) == ("success", "manual", "test")
    assert _run_count() == runs_before + 1
    tis = _rows(models.TaskInstance, dag_id="daily", run_id=run.run_id)
    assert {(ti.task_id, ti.state, ti.pid, ti.executor) for ti in tis} == {
        ("extract", "success", pid, None),
        ("load", "success", pid, None),
    }
    # The DAG is still paused, and the other run's task still runs in the same process.
    with create_session(readonly=True) as session:
        assert session.get(models.DagModel, "daily").is_paused is True
    (still,) = _rows(models.TaskInstance, dag_id="blocker", run_id=blocker_run)
    assert (still.state, still.try_number, still.pid) == ("running", 1, blocker_ti.pid)
    os.kill(blocker_ti.pid, 0)  # alive


def test_a_live_scheduler_never_runs_a_test_runs_tasks(engine: Engine, tmp_path: Any) -> None:
    """While `dags test fanout` runs `hold`, its `free` task is `scheduled` in the database;
    the scheduler completes a whole pass (it runs `ping`) and still leaves `free` alone."""
    from aerovane.db import models

    engine.wait_dag("fanout")
    engine.wait_dag("ping")
    release = tmp_path / "release-fanout"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "dags", "test", "fanout"],
        env={**engine.env, "FANOUT_RELEASE": str(release)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "hold is running" in line:
                break
        (run,) = _rows(models.DagRun, dag_id="fanout")
        states = {ti.task_id: ti.state for ti in _rows(models.TaskInstance, run_id=run.run_id)}
        assert states == {"hold": "running", "free": "scheduled"}
        ping = engine.trigger("ping")
        assert engine.wait_run("ping", ping, timeout=60) == "success"
        (free,) = _rows(models.TaskInstance, run_id=run.run_id, task_id="free")
        assert (free.state, free.try_number) == ("scheduled", 0)
        release.touch()
        rest, _ = proc.communicate(timeout=120)
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    tis = _rows(models.TaskInstance, dag_id="fanout", run_id=run.run_id)
    assert {(ti.state, ti.pid, ti.executor, ti.queued_by_job_id, ti.try_number) for ti in tis} == {
        ("success", proc.pid, None, None, 1)
    }


def test_dag_test_idiom_streams_each_task_as_it_runs(engine: Engine, tmp_path: Any) -> None:
    """`python streamed.py` runs the DAG in that process; `first`'s output is on stdout while
    `second` still waits for the file this test creates only after seeing it."""
    from aerovane.db import models

    release = tmp_path / "release-streamed"
    proc = subprocess.Popen(
        [sys.executable, str(engine.dags / "streamed.py")],
        env={**engine.env, "STREAMED_RELEASE": str(release)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "first says hi" in line:
                break
        assert any("first says hi" in line for line in seen), "".join(seen)
        assert not any("second saw the release" in line for line in seen)
        release.touch()
        rest, _ = proc.communicate(timeout=120)
    finally:
        release.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    assert "running second" in "".join(seen) + rest and "second saw the release" in rest
    (run,) = _rows(models.DagRun, dag_id="streamed")
    assert (run.state, run.triggered_by) == ("success", "test")
    tis = _rows(models.TaskInstance, dag_id="streamed", run_id=run.run_id)
    assert {(ti.task_id, ti.state, ti.pid) for ti in tis} == {
        ("first", "success", proc.pid),
        ("second", "success", proc.pid),
    }
    # Each task's log is also in its log file, for the UI and the API.
    assert "first says hi" in engine.log("streamed", run.run_id, "first")


def test_ctrl_c_fails_the_test_run_and_leaves_nothing_running(engine: Engine) -> None:
    from aerovane.db import models

    engine.wait_dag("interrupted")
    # Started as from a terminal: Ctrl-C not ignored. A suite run as a background job (`&` in
    # a script) ignores SIGINT, children inherit that, and Python then keeps ignoring it.
    command = [sys.executable, "-m", "aerovane", "dags", "test", "interrupted"]
    interruptible = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL);"
        " os.execv(sys.argv[1], sys.argv[1:])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", interruptible, *command],
        env=engine.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "forever is running" in line:
                break
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    (run,) = _rows(models.DagRun, dag_id="interrupted")
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in _rows(models.TaskInstance, run_id=run.run_id)}
    # Interrupted, not retried; what never started stays as it was.
    assert states == {"forever": "failed", "after": None}


def test_dags_test_runs_deferred_tasks_triggers_in_process(engine: Engine) -> None:
    """As Airflow 2.10's dag.test(): a deferred task's trigger runs in the testing process and
    the task resumes there in the same try; a trigger that raises fails its task."""
    from aerovane.db import models

    engine.wait_dag("deferred_test")
    result, pid = _dags_test(engine, "deferred_test")
    assert result.returncode == 1, result.stdout  # the run failed: `broken` did
    assert "running the trigger of defers in this process" in result.stdout
    assert "resumed with n=5" in result.stdout
    assert "this trigger broke" in result.stdout
    (run,) = _rows(models.DagRun, dag_id="deferred_test")
    assert run.state == "failed"
    tis = _rows(models.TaskInstance, dag_id="deferred_test", run_id=run.run_id)
    assert {(ti.task_id, ti.state, ti.try_number, ti.pid) for ti in tis} == {
        ("defers", "success", 1, pid),
        ("sensor", "success", 1, pid),
        ("broken", "failed", 1, pid),
    }
    assert _rows(models.Trigger) == []
    log = engine.log("deferred_test", run.run_id, "defers")
    assert "Pausing task as DEFERRED" in log and "Trigger fired event" in log
    assert "Resuming after deferral in done" in log
