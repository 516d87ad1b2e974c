"""`aerovane tasks` list, state, states-for-dag-run, clear, failed-deps, render."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from aerovane.authoring import DAG, BashOperator
from aerovane.cli import cli
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.cli.conftest import fails, ok, store_dags

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
RENDER_DAG = """
import datetime
from aerovane.authoring import DAG, BashOperator
with DAG("render_me", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    BashOperator(task_id="say", bash_command="echo {{ ds }} {{ dag_run.conf.get('who', 'x') }}")
"""


@pytest.fixture
def etl(runner: CliRunner) -> str:
    with DAG("etl", schedule=None, start_date=START) as dag:
        extract = BashOperator(task_id="extract", bash_command="true")
        extract >> BashOperator(task_id="transform", bash_command="true")
        extract >> BashOperator(task_id="audit", bash_command="true")
    store_dags("/dags/etl.py", dag)
    ok(runner, "dags", "unpause", "etl")
    ok(runner, "dags", "trigger", "etl", "-r", "r1", "-e", "2024-03-01")
    return "etl"


def _set_states(**states: str) -> None:
    with create_session() as session:
        for task_id, state in states.items():
            session.execute(
                update(models.TaskInstance)
                .where(models.TaskInstance.task_id == task_id)
                .values(state=state, try_number=1)
            )


def _states() -> dict[str, str | None]:
    with create_session(readonly=True) as session:
        rows = session.execute(select(models.TaskInstance.task_id, models.TaskInstance.state))
        return dict(rows.all())


def test_list_and_tree(runner: CliRunner, etl: str) -> None:
    assert ok(runner, "tasks", "list", etl) == "audit\nextract\ntransform\n"
    tree = ok(runner, "tasks", "list", etl, "--tree").splitlines()
    assert tree[0] == "<Task(BashOperator): extract>"
    assert tree[1:] == ["    <Task(BashOperator): audit>", "    <Task(BashOperator): transform>"]
    fails(runner, "tasks", "list", "nope")


def test_state_by_run_id_or_date(runner: CliRunner, etl: str) -> None:
    _set_states(extract="success")
    assert ok(runner, "tasks", "state", etl, "extract", "r1") == "success\n"
    assert ok(runner, "tasks", "state", etl, "extract", "2024-03-01") == "success\n"
    assert ok(runner, "tasks", "state", etl, "audit", "r1") == "None\n"
    assert "not found" in fails(runner, "tasks", "state", etl, "extract", "r9").stderr
    assert "not found" in fails(runner, "tasks", "state", etl, "nope", "r1").stderr


def test_states_for_dag_run(runner: CliRunner, etl: str) -> None:
    _set_states(extract="failed")
    rows = json.loads(ok(runner, "tasks", "states-for-dag-run", etl, "r1", "-o", "json"))
    assert [(r["task_id"], r["state"]) for r in rows] == [
        ("audit", None),
        ("extract", "failed"),
        ("transform", None),
    ]
    assert {r["execution_date"] for r in rows} == {"2024-03-01T00:00:00+00:00"}
    assert "extract\tfailed" in ok(runner, "tasks", "states-for-dag-run", etl, "r1", "-o", "plain")


def test_clear_with_airflow_flags(runner: CliRunner, etl: str) -> None:
    _set_states(extract="failed", transform="upstream_failed", audit="success")
    declined = runner.invoke(cli, ["tasks", "clear", etl, "-t", "^extract$"], input="n\n")
    assert declined.exit_code == 1 and "You are about to delete these 1 tasks" in declined.output
    assert _states()["extract"] == "failed"
    out = ok(runner, "tasks", "clear", etl, "-t", "^extract$", "-d", "-f", "-y")
    assert "2 task instance(s) cleared" in out
    assert _states() == {"extract": None, "transform": None, "audit": "success"}
    _set_states(audit="running")
    assert "1 task instance(s) cleared" in ok(runner, "tasks", "clear", etl, "-r", "-y")
    assert "No task instances to clear" in ok(
        runner, "tasks", "clear", etl, "-s", "2025-01-01", "-y"
    )
    assert "1 task instance(s)" in ok(
        runner, "tasks", "clear", "^et.$", "-R", "-t", "transform", "-y"
    )
    assert (
        "not a valid regular expression" in fails(runner, "tasks", "clear", etl, "-t", "(").stderr
    )
    assert "not found" in fails(runner, "tasks", "clear", "nope", "-y").stderr


def test_failed_deps(runner: CliRunner, etl: str) -> None:
    out = ok(runner, "tasks", "failed-deps", etl, "transform", "r1")
    assert out.startswith("Dependencies not met for <TaskInstance: etl.transform r1 [None]>:")
    assert "Trigger Rule:" in out
    _set_states(extract="success")
    assert "Trigger Rule" not in ok(runner, "tasks", "failed-deps", etl, "transform", "r1")


def test_render_uses_the_runs_conf(runner: CliRunner) -> None:
    from aerovane.config import get_settings

    (get_settings().dags_folder / "render_me.py").write_text(RENDER_DAG)
    ok(runner, "dags", "test", "render_me", "2024-05-02", "-c", '{"who": "ada"}')
    run_id = json.loads(ok(runner, "dags", "list-runs", "-d", "render_me", "-o", "json"))[0][
        "run_id"
    ]
    out = ok(runner, "tasks", "render", "render_me", "say", run_id)
    assert "# property: bash_command" in out and "echo 2024-05-02 ada" in out
    assert "echo 2024-06-01 x" in ok(runner, "tasks", "render", "render_me", "say", "2024-06-01")
    assert (
        "not found in DAG"
        in fails(runner, "tasks", "render", "render_me", "nope", "2024-06-01").stderr
    )
