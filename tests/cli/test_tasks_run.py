"""`aerovane tasks run`: one task instance as a new try, run by a worker process, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from aerovane.db import models
from aerovane.db.engine import create_session
from tests.cli.conftest import fails, ok

DAG_FILE = """
import datetime as dt
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("simple", schedule=None, start_date=dt.datetime(2024, 1, 1)):
    a = BashOperator(task_id="a", bash_command="echo hello-from-a")
    b = BashOperator(task_id="b", bash_command="exit 3")
    a >> b
"""


def _aerovane(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aerovane", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )


def _ti(task_id: str) -> tuple[str | None, int]:
    with create_session(readonly=True) as session:
        row = session.execute(
            select(models.TaskInstance.state, models.TaskInstance.try_number).where(
                models.TaskInstance.dag_id == "simple", models.TaskInstance.task_id == task_id
            )
        ).one()
        return row.state, row.try_number


def test_tasks_run(runner: CliRunner, db: Path) -> None:
    from aerovane.config import get_settings

    folder = get_settings().dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "simple.py").write_text(DAG_FILE)
    ok(runner, "dags", "reserialize")
    ok(runner, "dags", "trigger", "simple", "-r", "r1")
    # Dependencies are checked as the scheduler would (paused DAG, queued run, upstream).
    blocked = fails(runner, "tasks", "run", "simple", "b", "r1").stderr
    assert "Dependencies not met" in blocked and "Trigger Rule" in blocked
    assert _ti("b") == (None, 0)
    # -i runs it anyway, in a worker process; --raw prints the attempt's log here.
    done = _aerovane("tasks", "run", "simple", "a", "r1", "-i", "--raw")
    assert done.returncode == 0, done.stderr
    assert "hello-from-a" in done.stdout
    assert "<TaskInstance: simple.a r1 map_index=-1> is success" in done.stdout
    assert _ti("a") == ("success", 1)
    assert "must be cleared" in fails(runner, "tasks", "run", "simple", "a", "r1", "-i").stderr
    # A failing task: its state is recorded and the command exits 1.
    failed = _aerovane("tasks", "run", "simple", "b", "r1", "-i")
    assert failed.returncode == 1
    assert "is failed" in failed.stdout and "hello" not in failed.stdout
    assert _ti("b") == ("failed", 1)
    assert "not found" in fails(runner, "tasks", "run", "simple", "a", "nosuchrun").stderr
