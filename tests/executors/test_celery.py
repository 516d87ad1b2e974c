"""The Celery executor end to end: a real scheduler process, real `aerovane celery worker`
processes (each with a home of its own, as on another host: its own log folder), a real broker
(Redis, and RabbitMQ once) and the test's database (SQLite or PostgreSQL).

Each test uses queue names of its own, so tests running in parallel on one broker never take
each other's messages.
"""

from __future__ import annotations

import os
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

from tests.conftest import subprocess_home

REDIS_URL = os.environ.get("AEROVANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/6")
RABBITMQ_URL = os.environ.get("AEROVANE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
SECRET = "celery-test-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def dag_source(dag_id: str, out: Path, special_queue: str) -> str:
    """`first >> special >> last`; each task appends its worker's home and try to a file; the
    middle one goes to `special_queue`; `slow` sleeps on its first try only, printing a line
    first (the log test reads it while the task runs)."""
    return textwrap.dedent(
        f"""
        import datetime, os, time
        from airflow import DAG
        from airflow.operators.python import PythonOperator

        OUT = {str(out)!r}

        def work(ti):
            with open(os.path.join(OUT, f"{{ti.run_id}}__{{ti.task_id}}"), "a") as fh:
                fh.write(f"{{os.environ['AEROVANE_HOME']}} {{ti.try_number}}\\n")
            if ti.task_id == "slow" and ti.try_number == 1:
                print("slow task started", flush=True)
                time.sleep(float(os.environ.get("SLOW_SECONDS", "3")))

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
            "AEROVANE__DATABASE__SQL_ALCHEMY_CONN": settings.getstr(
                "database", "sql_alchemy_conn"
            ),
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


def test_a_dag_runs_on_workers_over_redis_with_queue_routing(redis_rig: Rig) -> None:
    rig = redis_rig
    rig.start("scheduler")
    rig.worker("worker-a", rig.queue)
    rig.worker("worker-b", rig.special, AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT="0")
    wait_dag("celery_dag", timeout=120)
    (run_id,) = trigger_runs("celery_dag", 1)
    wait_for(lambda: _run_state(run_id) == "success", 120, f"run {run_id} to succeed\n{rig.log()}")
    home_a, home_b = str(rig.home.parent / "worker-a"), str(rig.home.parent / "worker-b")
    assert _lines(rig, run_id, "first") == [f"{home_a} 1"]
    assert _lines(rig, run_id, "special") == [f"{home_b} 1"]  # only worker-b takes that queue
    assert _lines(rig, run_id, "slow") == [f"{home_a} 1"]
    _print_timeline(run_id)


def _print_timeline(run_id: str) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        for ti in session.query(models.TaskInstance).filter_by(run_id=run_id):
            print(ti.task_id, ti.queued_dttm, ti.start_date, ti.end_date)
