"""The `aerovane` command's DAG, task and user commands against a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aerovane.cli import _register, cli

DAG_FILE = """
import datetime
from aerovane.authoring import DAG, BashOperator, task
with DAG("cli_dag", schedule=None, start_date=datetime.datetime(2024, 1, 1),
         params={"who": "x"}):
    @task
    def hello(params=None):
        print("hello", params["who"])
        return params["who"]
    hello() >> BashOperator(task_id="echo", bash_command="echo conf={{ dag_run.conf }}")
"""


@pytest.fixture
def runner(db: Path) -> CliRunner:
    _register()
    from aerovane.config import get_settings

    (get_settings().dags_folder / "cli_dag.py").write_text(DAG_FILE)
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_dags_test_runs_the_dag_with_the_real_engine(runner: CliRunner) -> None:
    out = invoke(runner, "dags", "test", "cli_dag", "--conf", '{"who": "cli"}')
    assert "Run finished success" in out
    assert "hello cli" in out and "conf={'who': 'cli'}" in out
    listed = json.loads(invoke(runner, "dags", "list", "-o", "json"))
    assert [d["dag_id"] for d in listed] == ["cli_dag"]
    runs = json.loads(invoke(runner, "dags", "list-runs", "-d", "cli_dag", "-o", "json"))
    assert [r["state"] for r in runs] == ["success"]


def test_trigger_pause_unpause_and_errors(runner: CliRunner) -> None:
    invoke(runner, "dags", "test", "cli_dag")  # parses the file
    assert "paused" in invoke(runner, "dags", "pause", "cli_dag")
    out = json.loads(
        invoke(runner, "dags", "trigger", "cli_dag", "-c", '{"a": 1}', "-r", "r1", "-o", "json")
    )
    assert out[0]["run_id"] == "r1" and out[0]["state"] == "queued"
    dup = runner.invoke(cli, ["dags", "trigger", "cli_dag", "-r", "r1"])
    assert (
        dup.exit_code == 1 and dup.output.startswith("Error: ") and "already exists" in dup.output
    )
    missing = runner.invoke(cli, ["dags", "pause", "nope"])
    assert missing.exit_code == 1 and "not found" in missing.output
    bad = runner.invoke(cli, ["dags", "trigger", "cli_dag", "-c", "[1]"])
    assert bad.exit_code == 2 and "must be a JSON object" in bad.output
    nan = runner.invoke(cli, ["dags", "trigger", "cli_dag", "-c", '{"x": NaN}', "-r", "r2"])
    assert nan.exit_code == 1 and nan.output.startswith("Error: ")
    assert "conf is not valid JSON" in nan.output and len(nan.output.splitlines()) == 1
    runs = json.loads(invoke(runner, "dags", "list-runs", "-d", "cli_dag", "-o", "json"))
    assert "r2" not in {run["run_id"] for run in runs}


def test_tasks_test_runs_one_task_and_records_nothing(runner: CliRunner) -> None:
    invoke(runner, "dags", "test", "cli_dag")
    before = json.loads(invoke(runner, "dags", "list-runs", "-d", "cli_dag", "-o", "json"))
    out = invoke(runner, "tasks", "test", "cli_dag", "hello", "--conf", '{"who": "t"}')
    assert "hello t" in out and "finished: success; returned 't'" in out
    after = json.loads(invoke(runner, "dags", "list-runs", "-d", "cli_dag", "-o", "json"))
    assert before == after


def test_users_create_list_delete(runner: CliRunner) -> None:
    invoke(
        runner,
        "users",
        "create",
        "-u",
        "accounts.google.com:112233445566778899",
        "-e",
        "sa@example.com",
        "-f",
        "S",
        "-l",
        "A",
        "-r",
        "Op",
        "--use-random-password",
    )
    users = json.loads(invoke(runner, "users", "list", "-o", "json"))
    assert users[0]["username"] == "accounts.google.com:112233445566778899"
    assert users[0]["roles"] == "Op"
    neither = runner.invoke(
        cli, ["users", "create", "-u", "x", "-e", "x@example.com", "-f", "x", "-l", "x", "-r", "Op"]
    )
    assert neither.exit_code == 2 and "--use-random-password" in neither.output
    invoke(runner, "users", "delete", "-u", "accounts.google.com:112233445566778899")
    assert json.loads(invoke(runner, "users", "list", "-o", "json")) == []
