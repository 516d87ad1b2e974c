"""The Celery executor end to end: a real scheduler process, real `aerovane celery worker`
processes (each with a home of its own, as on another host: its own log folder), a real broker
(Redis, and RabbitMQ once) and the test's database (SQLite or PostgreSQL).

Each test uses queue names of its own, so tests running in parallel on one broker never take
each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from benchmarks._crash import kill_tree, start_tree, stop_tree, trigger_runs, wait_dag, wait_for
from benchmarks._faults import PrivateRedis

from tests.conftest import subprocess_home

REDIS_URL = os.environ.get("AEROVANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")
RABBITMQ_URL = os.environ.get("AEROVANE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
SECRET = "celery-test-secret"
JSON = {"Accept": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def dag_source(dag_id: str, out: Path, special_queue: str) -> str:
    """`first >> special >> last`; each task appends its worker's home and try to a file; the
    middle one goes to `special_queue`; `slow`, on its first try only, prints a line and waits
    for a file `go` (the test reads its log, or kills its worker, meanwhile)."""
    return textwrap.dedent(
        f"""
        import datetime, os, time
        from airflow import DAG
        from airflow.operators.python import PythonOperator

        OUT = {str(out)!r}
        GO = os.path.join(OUT, "go")

        def work(ti):
            with open(os.path.join(OUT, f"{{ti.run_id}}__{{ti.task_id}}"), "a") as fh:
                fh.write(f"{{os.environ['AEROVANE_HOME']}} {{ti.try_number}}\\n")
            if ti.task_id == "slow" and ti.try_number == 1:
                print("slow task started", flush=True)
                deadline = time.monotonic() + 120
                while not os.path.exists(GO) and time.monotonic() < deadline:
                    time.sleep(0.05)

        with DAG(
            {dag_id!r},
            schedule=None,
            start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
            is_paused_upon_creation=False,
            default_args={{"retries": 1, "retry_delay": datetime.timedelta(0)}},
        ):
            first = PythonOperator(task_id="first", python_callable=work)
            special = PythonOperator(
                task_id="special", python_callable=work, queue={special_queue!r}
            )
            slow = PythonOperator(task_id="slow", python_callable=work)
            first >> special >> slow
        """
    )


@dataclass
class Rig:
    home: Path
    out: Path
    env: dict[str, str]
    queue: str
    special: str
    log_port: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *command: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = start_tree(list(command), env or self.env, self.home / "processes.log")
        self.procs.append(proc)
        return proc

    def worker(self, name: str, queues: str, **extra: str) -> subprocess.Popen[bytes]:
        """A worker in a home of its own (its logs stay there), on the test's database."""
        from aerovane.config import get_settings

        settings = get_settings()
        env = {
            **self.env,
            "AEROVANE_HOME": str(self.home.parent / name),
            "AEROVANE__DATABASE__SQL_ALCHEMY_CONN": settings.getstr("database", "sql_alchemy_conn"),
            "AEROVANE__CORE__DAGS_FOLDER": str(settings.dags_folder),
            **extra,
        }
        return self.start("celery", "worker", "-q", queues, "-c", "2", env=env)

    def log(self) -> str:
        return (self.home / "processes.log").read_text(errors="replace")


def _rig(tmp_path: Path, broker: str, **overrides: str) -> Iterator[Rig]:
    from aerovane.config import get_settings
    from aerovane.executors.celery.app import celery_app

    token = uuid.uuid4().hex[:8]
    queue, special = f"default-{token}", f"special-{token}"
    log_port = _free_port()
    home = tmp_path / "scheduler"
    out = tmp_path / "side-effects"
    out.mkdir()
    settings = {
        "AEROVANE__CORE__EXECUTOR": "CeleryExecutor",
        "AEROVANE__CELERY__BROKER_URL": broker,
        "AEROVANE__OPERATORS__DEFAULT_QUEUE": queue,
        "AEROVANE__WEBSERVER__SECRET_KEY": SECRET,
        "AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
        "AEROVANE__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "1",
        "AEROVANE__SCHEDULER__TASK_HEARTBEAT_SEC": "1",
        **overrides,
    }
    with subprocess_home(home, settings) as env:
        celery_app.cache_clear()
        (get_settings().dags_folder / "celery_dag.py").write_text(
            dag_source("celery_dag", out, special)
        )
        rig = Rig(home=home, out=out, env=env, queue=queue, special=special, log_port=log_port)
        try:
            yield rig
        finally:
            for proc in rig.procs:
                stop_tree(proc)
            celery_app.cache_clear()


@pytest.fixture
def redis_rig(tmp_path: Path) -> Iterator[Rig]:
    yield from _rig(tmp_path, REDIS_URL)


def _ti(run_id: str, task_id: str) -> tuple[str, int, str] | None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    ti = models.TaskInstance
    with create_session(readonly=True) as session:
        row = session.execute(
            select(ti.state, ti.try_number, ti.hostname).where(
                ti.dag_id == "celery_dag", ti.run_id == run_id, ti.task_id == task_id
            )
        ).first()
    return None if row is None else (str(row[0]), int(row[1]), str(row[2]))


def _run_state(run_id: str) -> str | None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        runs = [r for r in session.query(models.DagRun).filter_by(run_id=run_id)]
        return str(runs[0].state) if runs else None


def _lines(rig: Rig, run_id: str, task_id: str) -> list[str]:
    path = rig.out / f"{run_id}__{task_id}"
    return path.read_text().split("\n")[:-1] if path.exists() else []


def _state_is(run_id: str, task_id: str, state: str) -> Callable[[], bool]:
    return lambda: (_ti(run_id, task_id) or ("", 0, ""))[0] == state


def _go(rig: Rig) -> None:
    (rig.out / "go").write_text("")


def _send_again(rig: Rig, run_id: str, task_id: str, try_number: int) -> None:
    """Deliver an attempt's message once more, as a broker may (the same workload again)."""
    from aerovane.config import get_settings
    from aerovane.executors.base import TaskKey, TaskWorkload
    from aerovane.executors.celery.app import TASK_NAME, celery_app

    key = TaskKey("celery_dag", task_id, run_id, -1, try_number)
    fileloc = str(get_settings().dags_folder / "celery_dag.py")
    workload = TaskWorkload(key=key, fileloc=fileloc, log_path="", queue=rig.queue)
    celery_app().send_task(TASK_NAME, args=[workload.to_dict()], queue=rig.queue).get(timeout=120)


@contextlib.contextmanager
def _api() -> Iterator[httpx.Client]:
    from aerovane.api.app import create_app
    from aerovane.auth.users import create_user
    from aerovane.db.engine import create_session
    from tests.api.conftest import run_server

    with create_session() as session:
        create_user(
            username="viewer",
            email="viewer@example.com",
            first_name="V",
            last_name="U",
            role_names=["Viewer"],
            password="viewer-password",
            session=session,
        )
    with (
        run_server(create_app()) as url,
        httpx.Client(base_url=f"{url}/api/v1", auth=("viewer", "viewer-password")) as client,
    ):
        yield client


def test_a_dag_runs_on_workers_over_redis_with_queue_routing(redis_rig: Rig) -> None:
    """Queue routing, the log of a running attempt read from its worker through the API, and
    messages delivered twice (while the attempt runs, and after it ended) running nothing."""
    rig = redis_rig
    scheduler_metrics, worker_metrics = _free_port(), _free_port()
    rig.start(
        "scheduler",
        env={**rig.env, "AEROVANE__METRICS__SCHEDULER_PROMETHEUS_PORT": str(scheduler_metrics)},
    )
    rig.worker("worker-a", rig.queue, AEROVANE__METRICS__WORKER_PROMETHEUS_PORT=str(worker_metrics))
    rig.worker("worker-b", rig.special, AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT="0")
    wait_dag("celery_dag", timeout=120)
    (run_id,) = trigger_runs("celery_dag", 1)
    wait_for(_state_is(run_id, "slow", "running"), 120, f"slow to run\n{rig.log()}")
    # worker-a's own /metrics: the attempt it runs now (`first` ran there and ended).
    running = "aerovane_celery_worker_running_tasks 1.0"
    assert running in httpx.get(f"http://127.0.0.1:{worker_metrics}/metrics").text

    # The log is on worker-a's host only; the API fetches it from worker-a's log server.
    with _api() as api:
        url = f"/dags/celery_dag/dagRuns/{run_id}/taskInstances/slow/logs/1"
        wait_for(
            lambda: "slow task started" in api.get(url, headers=JSON).json()["content"],
            120,
            "the running attempt's log through the API",
        )
        text = api.get(url, headers={"Accept": "text/plain"})
        assert text.status_code == 200 and "slow task started" in text.text
    assert not (rig.home / "logs" / "dag_id=celery_dag").joinpath(f"run_id={run_id}").exists()

    _send_again(rig, run_id, "slow", 1)  # while the attempt runs: the copy claims nothing
    assert _ti(run_id, "slow")[:2] == ("running", 1)
    _go(rig)
    wait_for(lambda: _run_state(run_id) == "success", 120, f"run {run_id} to succeed\n{rig.log()}")
    _send_again(rig, run_id, "first", 1)  # after it ended: nothing runs again

    home_a, home_b = str(rig.home.parent / "worker-a"), str(rig.home.parent / "worker-b")
    assert _lines(rig, run_id, "first") == [f"{home_a} 1"]
    assert _lines(rig, run_id, "special") == [f"{home_b} 1"]  # only worker-b takes that queue
    assert _lines(rig, run_id, "slow") == [f"{home_a} 1"]
    assert [_ti(run_id, t)[:2] for t in ("first", "special", "slow")] == [("success", 1)] * 3
    # The scheduler counted each attempt once, from the results its executor read.
    finished = [
        f'airflow_ti_finish_total{{dag_id="celery_dag",state="success",task_id="{t}"}} 1.0'
        for t in ("first", "special", "slow")
    ]
    wait_for(
        lambda: all(
            line in httpx.get(f"http://127.0.0.1:{scheduler_metrics}/metrics").text
            for line in finished
        ),
        100,
        "the scheduler's ti.finish counts",
    )


def test_a_killed_workers_attempt_is_retried_on_another_worker(redis_rig: Rig) -> None:
    rig = redis_rig
    rig.start("scheduler")
    doomed = rig.worker("worker-a", rig.queue)
    rig.worker("worker-b", rig.special, AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT="0")
    wait_dag("celery_dag", timeout=120)
    (run_id,) = trigger_runs("celery_dag", 1)
    wait_for(lambda: _lines(rig, run_id, "slow"), 120, f"slow to start\n{rig.log()}")
    kill_tree(doomed)  # the worker, its zygote and the attempt: as a host that is lost

    rig.worker("worker-c", rig.queue, AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT="0")
    wait_for(lambda: _run_state(run_id) == "success", 120, f"run {run_id} to succeed\n{rig.log()}")
    home_a, home_c = str(rig.home.parent / "worker-a"), str(rig.home.parent / "worker-c")
    assert _lines(rig, run_id, "slow") == [f"{home_a} 1", f"{home_c} 2"]
    assert _ti(run_id, "slow")[:2] == ("success", 2)


@pytest.fixture
def private_redis_rig(tmp_path: Path) -> Iterator[tuple[Rig, PrivateRedis]]:
    """A Redis of this test's own (it is restarted), append-only as a broker should be."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server")
    (tmp_path / "redis").mkdir()
    redis = PrivateRedis(tmp_path / "redis", Path(binary))
    redis.start()
    try:
        for rig in _rig(tmp_path, redis.url):
            yield rig, redis
    finally:
        redis.kill()


def test_a_worker_survives_a_broker_restart_during_a_task(
    private_redis_rig: tuple[Rig, PrivateRedis],
) -> None:
    """Redis restarts while an attempt runs (its message unacknowledged): the worker goes on,
    the attempt finishes once, and the worker takes the next run's tasks. Found by the fault
    suite: Celery 5.7's consumer gave up on closing the broken connection, and the worker
    exited."""
    rig, redis = private_redis_rig
    rig.start("scheduler")
    worker = rig.worker("worker-a", f"{rig.queue},{rig.special}")
    wait_dag("celery_dag", timeout=120)
    (run_id,) = trigger_runs("celery_dag", 1)
    wait_for(lambda: _lines(rig, run_id, "slow"), 120, f"slow to start\n{rig.log()}")
    redis.restart()
    wait_for(lambda: "Connection to broker lost" in rig.log(), 120, "the worker to notice")
    _go(rig)
    wait_for(lambda: _run_state(run_id) == "success", 120, f"run {run_id} to succeed\n{rig.log()}")
    (second,) = trigger_runs("celery_dag", 1)
    wait_for(lambda: _run_state(second) == "success", 120, f"run {second} to succeed\n{rig.log()}")
    assert worker.poll() is None, rig.log()
    home_a = str(rig.home.parent / "worker-a")
    for task_id in ("first", "special", "slow"):
        assert _lines(rig, run_id, task_id) == [f"{home_a} 1"]
        assert _lines(rig, second, task_id) == [f"{home_a} 1"]


@pytest.fixture
def rabbitmq_rig(tmp_path: Path) -> Iterator[Rig]:
    yield from _rig(tmp_path, RABBITMQ_URL, AEROVANE__CELERY__STALLED_TASK_TIMEOUT="1")


def test_over_rabbitmq_a_message_the_broker_lost_is_sent_again(rabbitmq_rig: Rig) -> None:
    """No worker yet; the queued attempt's message is lost (purged, as by a broker restarted
    without persistence); the scheduler sends it again, and the run succeeds once a worker
    comes, each task once."""
    from aerovane.executors.celery.app import celery_app

    rig = rabbitmq_rig
    app = celery_app()
    with app.connection_for_write() as conn:
        app.amqp.queues[rig.queue].bind(conn.default_channel).declare()  # so it can be purged
        rig.start("scheduler")
        wait_dag("celery_dag", timeout=120)
        (run_id,) = trigger_runs("celery_dag", 1)
        wait_for(_state_is(run_id, "first", "queued"), 120, f"first to be queued\n{rig.log()}")
        wait_for(lambda: conn.default_channel.queue_purge(rig.queue), 120, "a message to purge")
    _go(rig)
    rig.worker("worker-a", f"{rig.queue},{rig.special}")
    wait_for(lambda: _run_state(run_id) == "success", 120, f"run {run_id} to succeed\n{rig.log()}")
    home_a = str(rig.home.parent / "worker-a")
    for task_id in ("first", "special", "slow"):
        assert _lines(rig, run_id, task_id) == [f"{home_a} 1"]


REMOTE_LOGS_DAG = """
import datetime
from airflow import DAG
from airflow.operators.python import PythonOperator

def ok():
    print("ok task says hello", flush=True)

def boom():
    print("boom task about to fail", flush=True)
    raise RuntimeError("boom")

with DAG(
    "remote_logs_dag",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    is_paused_upon_creation=False,
):
    PythonOperator(task_id="ok", python_callable=ok)
    PythonOperator(task_id="boom", python_callable=boom)
"""


def test_ended_attempts_logs_are_read_back_from_an_ftp_server(tmp_path: Path) -> None:
    """The worker copies each ended attempt's log, a success and a failure, to an FTP server
    (credentials in the URL); once the worker is gone and its log files deleted, the API reads
    them from there. The password shows in no process's output."""
    from urllib.parse import quote

    from aerovane.config import get_settings
    from tests.api.conftest import Account
    from tests.ftp_server import ftp_server
    from tests.www.conftest import sign_in

    password = "ftp-remote-logs-pw"
    with ftp_server(tmp_path / "ftp-root", "logs", password) as port:
        url = f"ftp://logs:{password}@127.0.0.1:{port}/task-logs"
        overrides = {
            "AEROVANE__LOGGING__REMOTE_LOGGING": "True",
            "AEROVANE__LOGGING__REMOTE_BASE_LOG_FOLDER": url,
        }
        for rig in _rig(tmp_path, REDIS_URL, **overrides):
            (get_settings().dags_folder / "remote_logs_dag.py").write_text(REMOTE_LOGS_DAG)
            rig.start("scheduler")
            worker = rig.worker("worker-a", rig.queue)
            wait_dag("remote_logs_dag", timeout=120)
            (run_id,) = trigger_runs("remote_logs_dag", 1)
            wait_for(lambda: _run_state(run_id) == "failed", 120, f"the run to end\n{rig.log()}")
            stop_tree(worker)  # warm shutdown: the attempts' copies are made by now
            run = Path("dag_id=remote_logs_dag") / f"run_id={run_id}"
            on_ftp = tmp_path / "ftp-root" / "task-logs" / run
            assert "ok task says hello" in (on_ftp / "task_id=ok" / "attempt=1.log").read_text()
            shutil.rmtree(rig.home.parent / "worker-a" / "logs" / "dag_id=remote_logs_dag")

            with _api() as api:
                logs = f"/dags/remote_logs_dag/dagRuns/{run_id}/taskInstances/%s/logs/1"
                ok = api.get(logs % "ok", headers=JSON)
                assert ok.status_code == 200, ok.text
                assert "ok task says hello" in ok.json()["content"]
                boom = api.get(logs % "boom", headers={"Accept": "text/plain"})
                assert boom.status_code == 200
                assert "boom task about to fail" in boom.text
                assert "RuntimeError: boom" in boom.text
                # The UI's task instance page reads it the same way.
                base = str(api.base_url).split("/api/v1")[0]
                ui = sign_in(base, Account("viewer", "viewer-password"))
                try:
                    page = ui.get(f"/dags/remote_logs_dag/runs/{quote(run_id, safe='')}/tasks/boom")
                finally:
                    ui.close()
                assert page.status_code == 200
                assert "boom task about to fail" in page.text
            assert password not in rig.log()
