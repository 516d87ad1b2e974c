"""`aerovane dags` state, next-execution, list-import-errors, details, delete, show, backfill."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from aerovane.authoring import DAG, BashOperator
from aerovane.cli import cli
from tests.cli.conftest import fails, ok, store_dags

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def daily(runner: CliRunner) -> str:
    with DAG("daily", schedule="@daily", start_date=START, catchup=False, tags=["t1"]) as dag:
        BashOperator(task_id="extract", bash_command="true") >> BashOperator(
            task_id="load", bash_command="true"
        )
    store_dags("/dags/daily.py", dag)
    return "daily"


def _runs(runner: CliRunner, dag_id: str) -> list[dict]:
    return json.loads(ok(runner, "dags", "list-runs", "-d", dag_id, "-o", "json"))


def test_state_of_a_run(runner: CliRunner, daily: str) -> None:
    assert ok(runner, "dags", "state", daily, "2024-01-05") == "None\n"
    ok(runner, "dags", "trigger", daily, "-e", "2024-01-05", "-c", '{"a": 1}')
    assert ok(runner, "dags", "state", daily, "2024-01-05") == 'queued, {"a": 1}\n'
    assert "not found" in fails(runner, "dags", "state", "nope", "2024-01-05").stderr
    assert "ISO-8601" in fails(runner, "dags", "state", daily, "soon").stderr


def test_next_execution(runner: CliRunner, daily: str) -> None:
    lines = ok(runner, "dags", "next-execution", daily, "-n", "3").splitlines()
    first = dt.datetime.fromisoformat(lines[0])
    assert [dt.datetime.fromisoformat(x) - first for x in lines] == [
        dt.timedelta(days=n) for n in range(3)
    ]
    ok(runner, "dags", "pause", daily)
    result = runner.invoke(cli, ["dags", "next-execution", daily])
    assert "PAUSED" in result.stderr and result.stdout == lines[0] + "\n"
    ok(runner, "dags", "unpause", daily)
    with DAG("manual_only", schedule=None, start_date=START) as dag:
        BashOperator(task_id="t", bash_command="true")
    store_dags("/dags/manual.py", dag)
    assert ok(runner, "dags", "next-execution", "manual_only").endswith("None\n")


def test_list_import_errors(runner: CliRunner) -> None:
    assert json.loads(ok(runner, "dags", "list-import-errors", "-o", "json")) == []
    store_dags("/dags/broken.py", error="SyntaxError: invalid syntax (broken.py, line 3)")
    result = runner.invoke(cli, ["dags", "list-import-errors", "-o", "json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"filepath": "/dags/broken.py", "error": "SyntaxError: invalid syntax (broken.py, line 3)"}
    ]


def test_details(runner: CliRunner, daily: str) -> None:
    (row,) = json.loads(ok(runner, "dags", "details", daily, "-o", "json"))
    assert row["dag_id"] == daily and row["tags"] == ["t1"] and row["catchup"] is False
    assert row["timetable_summary"] == "0 0 * * *" and row["start_date"] == START.isoformat()
    table = ok(runner, "dags", "details", daily)
    assert "property_name" in table and "next_dagrun_create_after" in table
    fails(runner, "dags", "details", "nope")


def test_delete(runner: CliRunner, daily: str) -> None:
    ok(runner, "dags", "trigger", daily)
    assert runner.invoke(cli, ["dags", "delete", daily], input="n\n").exit_code == 1
    assert len(_runs(runner, daily)) == 1
    assert "Removed" in ok(runner, "dags", "delete", daily, "-y")
    assert json.loads(ok(runner, "dags", "list", "-o", "json")) == []
    assert "not found" in fails(runner, "dags", "delete", daily, "-y").stderr


def test_show_prints_dot(runner: CliRunner, daily: str, tmp_path: Path) -> None:
    dot = ok(runner, "dags", "show", daily)
    assert dot.startswith('digraph "daily" {')
    assert '\t"extract" -> "load"' in dot.splitlines()
    target = tmp_path / "g.dot"
    ok(runner, "dags", "show", daily, "--save", str(target))
    assert target.read_text() == dot
    assert "only DOT source" in fails(runner, "dags", "show", daily, "-s", "g.png").stderr


def test_backfill_creates_queued_backfill_runs(runner: CliRunner, daily: str) -> None:
    dry = ok(runner, "dags", "backfill", daily, "-s", "2024-02-01", "-e", "2024-02-03", "-n")
    assert "3 run(s) in range, 3 to run (dry run)" in dry
    assert _runs(runner, daily) == []
    out = ok(runner, "dags", "backfill", daily, "-s", "2024-02-01", "-e", "2024-02-03")
    assert "backfill__2024-02-01T00:00:00+00:00\tcreated" in out
    runs = _runs(runner, daily)
    assert sorted(r["logical_date"] for r in runs) == [
        "2024-02-01T00:00:00+00:00",
        "2024-02-02T00:00:00+00:00",
        "2024-02-03T00:00:00+00:00",
    ]
    assert {r["state"] for r in runs} == {"queued"}
    assert all(r["run_id"].startswith("backfill__") for r in runs)
    again = ok(runner, "dags", "backfill", daily, "-s", "2024-02-01", "-e", "2024-02-04")
    assert "4 run(s) in range, 1 to run" in again and again.count("skipped") == 3


def test_backfill_reset_and_rerun_failed(runner: CliRunner, daily: str) -> None:
    from sqlalchemy import select, update

    from aerovane.db import models
    from aerovane.db.engine import create_session

    ok(runner, "dags", "backfill", daily, "-s", "2024-02-01", "-e", "2024-02-02")
    with create_session() as session:
        session.execute(update(models.DagRun).values(state="failed"))
        session.execute(
            update(models.TaskInstance)
            .where(models.TaskInstance.task_id == "extract")
            .values(state="failed", try_number=1)
        )
        session.execute(
            update(models.TaskInstance)
            .where(models.TaskInstance.task_id == "load")
            .values(state="success", try_number=1)
        )
    out = ok(
        runner,
        "dags",
        "backfill",
        daily,
        "-s",
        "2024-02-01",
        "-e",
        "2024-02-01",
        "--rerun-failed-tasks",
    )
    assert "rerun_failed" in out
    with create_session(readonly=True) as session:
        rows = session.execute(
            select(
                models.TaskInstance.run_id, models.TaskInstance.task_id, models.TaskInstance.state
            )
        ).all()
    states = {(run_id[10:20], task): state for run_id, task, state in rows}
    assert states == {
        ("2024-02-01", "extract"): None,
        ("2024-02-01", "load"): "success",
        ("2024-02-02", "extract"): "failed",
        ("2024-02-02", "load"): "success",
    }
    ok(
        runner,
        "dags",
        "backfill",
        daily,
        "-s",
        "2024-02-02",
        "-e",
        "2024-02-02",
        "--reset-dagruns",
        "-y",
    )
    by_date = {r["logical_date"][:10]: r["state"] for r in _runs(runner, daily)}
    assert by_date == {"2024-02-01": "queued", "2024-02-02": "queued"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-s", "2024-02-03", "-e", "2024-02-01"], "is before --start-date"),
        (["-s", "x", "-e", "2024-02-01"], "ISO-8601"),
        (
            ["-s", "2024-01-01", "-e", "2024-02-01", "--reset-dagruns", "--rerun-failed-tasks"],
            "cannot be used together",
        ),
        (["-s", "2024-01-01", "-e", "2024-02-01", "-c", "[1]"], "JSON object"),
    ],
)
def test_backfill_bad_input(runner: CliRunner, daily: str, args: list[str], message: str) -> None:
    assert message in fails(runner, "dags", "backfill", daily, *args).stderr
    assert _runs(runner, daily) == []


def test_backfill_needs_a_schedule(runner: CliRunner) -> None:
    with DAG("unscheduled", schedule=None, start_date=START) as dag:
        BashOperator(task_id="t", bash_command="true")
    store_dags("/dags/u.py", dag)
    result = fails(
        runner, "dags", "backfill", "unscheduled", "-s", "2024-01-01", "-e", "2024-01-02"
    )
    assert "no periodic schedule" in result.stderr


def test_list_runs_filters(runner: CliRunner, daily: str) -> None:
    ok(runner, "dags", "backfill", daily, "-s", "2024-02-01", "-e", "2024-02-03")
    ok(runner, "dags", "trigger", daily, "-r", "by_hand", "-e", "2024-02-10")
    assert len(_runs(runner, daily)) == 4
    no_backfill = json.loads(
        ok(runner, "dags", "list-runs", "-d", daily, "--no-backfill", "-o", "json")
    )
    assert [r["run_id"] for r in no_backfill] == ["by_hand"]
    ranged = ok(
        runner,
        "dags",
        "list-runs",
        "-d",
        daily,
        "-s",
        "2024-02-02",
        "-e",
        "2024-02-03",
        "-o",
        "plain",
    ).splitlines()
    assert [line.split("\t")[1] for line in ranged] == [
        "backfill__2024-02-03T00:00:00+00:00",
        "backfill__2024-02-02T00:00:00+00:00",
    ]
    assert "ISO-8601" in fails(runner, "dags", "list-runs", "-d", daily, "-s", "x").stderr


def test_report_imports_each_file(runner: CliRunner) -> None:
    from aerovane.config import get_settings

    folder = get_settings().dags_folder
    (folder / "two.py").write_text(
        "import datetime\nfrom aerovane.authoring import DAG, BashOperator\n"
        "for name in ('r_one', 'r_two'):\n"
        "    with DAG(name, schedule=None, start_date=datetime.datetime(2024, 1, 1)):\n"
        "        BashOperator(task_id='a', bash_command='true')\n"
        "        BashOperator(task_id='b', bash_command='true')\n"
    )
    (folder / "broken_dag.py").write_text(
        "from aerovane.authoring import DAG\nraise ValueError('boom')\n"
    )
    rows = {r["file"]: r for r in json.loads(ok(runner, "dags", "report", "-o", "json"))}
    assert rows["/two.py"]["dag_num"] == 2 and rows["/two.py"]["task_num"] == 4
    assert rows["/two.py"]["dags"] == "r_one, r_two"
    assert rows["/broken_dag.py"]["dags"] == "ValueError: boom"
    assert json.loads(ok(runner, "dags", "list", "-o", "json")) == []  # nothing stored
    assert "neither a DAG file" in fails(runner, "dags", "report", "-S", "/no/such").stderr
