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


FLAKY_DAG = """
import datetime
from aerovane.authoring import DAG, task
with DAG("flaky", schedule="@daily", start_date=datetime.datetime(2024, 1, 1)):
    @task(retries=1, retry_delay=datetime.timedelta(seconds=0))
    def flaky(ti=None):
        if ti.try_number == 1:
            raise RuntimeError("first attempt fails")
        print("attempt", ti.try_number, "ok")

    @task
    def broken():
        raise ValueError("always")

    @task
    def after():
        print("never runs")

    flaky() >> broken() >> after()
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


def test_dags_test_runs_the_dag_in_process(runner: CliRunner) -> None:
    out = invoke(runner, "dags", "test", "cli_dag", "--conf", '{"who": "cli"}')
    assert "Run manual__" in out and "finished success" in out
    assert "hello cli" in out and "conf={'who': 'cli'}" in out
    # Dependency order, each task's log between its start and its end.
    assert out.index("running hello") < out.index("hello cli") < out.index("hello: success")
    assert out.index("hello: success") < out.index("running echo") < out.index("conf={")
    # A DAG the database did not know is stored (paused at creation), so its run is visible.
    listed = json.loads(invoke(runner, "dags", "list", "-o", "json"))
    assert [(d["dag_id"], d["is_paused"]) for d in listed] == [("cli_dag", True)]
    runs = json.loads(invoke(runner, "dags", "list-runs", "-d", "cli_dag", "-o", "json"))
    assert [r["state"] for r in runs] == ["success"]


def test_dags_test_retries_and_fails_like_the_scheduler(runner: CliRunner) -> None:
    from aerovane.config import get_settings

    (get_settings().dags_folder / "flaky.py").write_text(FLAKY_DAG)
    out = runner.invoke(cli, ["dags", "test", "flaky", "2024-02-01"])
    assert out.exit_code == 1, out.output
    assert "running flaky (try 1)" in out.output and "running flaky (try 2)" in out.output
    assert "attempt 2 ok" in out.output
    assert "flaky: success" in out.output and "broken: failed" in out.output
    assert "after: upstream_failed" in out.output
    assert "finished failed" in out.output
    # The same logical date again: a clear error; the first run is left as it was.
    again = runner.invoke(cli, ["dags", "test", "flaky", "2024-02-01"])
    assert again.exit_code == 1
    assert again.output.startswith("Error: ") and "already exists" in again.output
    assert again.output.count("\n") == 1
    runs = json.loads(invoke(runner, "dags", "list-runs", "-d", "flaky", "-o", "json"))
    assert [(r["logical_date"], r["state"]) for r in runs] == [
        ("2024-02-01T00:00:00+00:00", "failed")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dags", "test", "cli_dag", "-c", "{bad"), "-c/--conf is not valid JSON"),
        (("dags", "test", "cli_dag", "-c", "[1]"), "-c/--conf must be a JSON object"),
        (("tasks", "test", "cli_dag", "hello", "-c", "{bad"), "-c/--conf is not valid JSON"),
        (("dags", "trigger", "cli_dag", "-c", "nope"), "-c/--conf is not valid JSON"),
        (("dags", "test", "cli_dag", "yesterday"), "'yesterday' is not an ISO-8601 date"),
        (("dags", "test", "no_such_dag"), "DAG 'no_such_dag' is not defined in"),
        (("tasks", "test", "cli_dag", "nope"), "Task 'nope' not found in DAG 'cli_dag'"),
        (("tasks", "test", "cli_dag", "hello", "-t", "[1]"), "-t/--task-params must be a JSON"),
        (("dags", "list-runs", "-d", "nosuchdag"), "DAG 'nosuchdag' not found"),
    ],
)
def test_bad_arguments_are_one_line(runner: CliRunner, args: tuple[str, ...], message: str) -> None:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert result.output.count("\n") == 1, result.output


def test_trigger_pause_unpause_and_errors(runner: CliRunner) -> None:
    invoke(runner, "dags", "test", "cli_dag")  # stores the DAG the database did not know
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
    assert bad.exit_code == 1 and "must be a JSON object" in bad.output
    nan = runner.invoke(cli, ["dags", "trigger", "cli_dag", "-c", '{"x": NaN}', "-r", "r2"])
    assert nan.exit_code == 1 and nan.output.startswith("Error: ")
    assert "conf is not valid JSON" in nan.output and len(nan.output.splitlines()) == 1
    runs = json.loads(invoke(runner, "dags", "list-runs", "-d", "cli_dag", "-o", "json"))
    assert "r2" not in {run["run_id"] for run in runs}


def _table_counts() -> dict[str, int]:
    from sqlalchemy import func, select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    tables = (
        models.DagModel,
        models.DagRun,
        models.TaskInstance,
        models.TaskInstanceHistory,
        models.XCom,
        models.SerializedDagModel,
    )
    with create_session(readonly=True) as session:
        return {
            t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
            for t in tables
        }


def test_tasks_test_runs_one_task_and_records_nothing(runner: CliRunner) -> None:
    """As Airflow's `tasks test`: no dependencies, no state, no XCom written, no run created,
    whether or not the DAG is known to the database yet."""
    for _ in ("unknown DAG", "known DAG"):
        before = _table_counts()
        out = invoke(runner, "tasks", "test", "cli_dag", "hello", "--conf", '{"who": "t"}')
        assert "hello t" in out and "finished: success; returned 't'" in out
        assert _table_counts() == before
        invoke(runner, "dags", "test", "cli_dag")


def test_tasks_test_options_of_airflow(runner: CliRunner) -> None:
    """`-t/--task-params` override the DAG's params; `-n/--dry-run` renders and runs nothing."""
    before = _table_counts()
    out = invoke(runner, "tasks", "test", "cli_dag", "hello", "-t", '{"who": "param"}')
    assert "hello param" in out and "returned 'param'" in out
    dry = invoke(runner, "tasks", "test", "cli_dag", "echo", "-n", "-c", '{"x": 1}')
    assert dry == "bash_command: \"echo conf={'x': 1}\"\nenv: None\ncwd: None\n"
    assert "Running command" not in dry and "finished" not in dry
    assert _table_counts() == before


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
