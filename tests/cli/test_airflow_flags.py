"""`-v/--verbose` and `-S/--subdir` where Airflow 2.10 has them."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from aerovane.cli import cli
from aerovane.cli.airflow_flags import AIRFLOW_FLAGS
from tests.cli.conftest import fails, ok

DAG_FILE = """
import datetime as dt
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("elsewhere", schedule=None, start_date=dt.datetime(2024, 1, 1)):
    BashOperator(task_id="t", bash_command="echo from-elsewhere")
"""


def test_every_listed_command_takes_the_flags(runner: CliRunner) -> None:
    for path, subdir in AIRFLOW_FLAGS.items():
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        options = {opt for param in command.params for opt in getattr(param, "opts", ())}
        assert "--verbose" in options, path
        assert ("--subdir" in options) is subdir, path


def test_flags_are_accepted_and_subdir_loads_files_there(runner: CliRunner, tmp_path: Path) -> None:
    assert json.loads(ok(runner, "dags", "list", "-S", str(tmp_path), "-v", "-o", "json")) == []
    assert json.loads(ok(runner, "variables", "list", "-v", "-o", "json")) == []
    dag_file = tmp_path / "elsewhere.py"
    dag_file.write_text(DAG_FILE)
    # The DAG is in neither the database nor [core] dags_folder: only -S finds it.
    assert "not defined" in fails(runner, "tasks", "test", "elsewhere", "t").stderr
    out = ok(runner, "tasks", "test", "elsewhere", "t", "2024-01-02", "-S", str(dag_file))
    assert "Task t finished: success" in out
    rendered = ok(runner, "tasks", "test", "elsewhere", "t", "-n", "-S", str(tmp_path))
    assert "echo from-elsewhere" in rendered
