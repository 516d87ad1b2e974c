"""`aerovane dags list-jobs`, `show-dependencies` and `reserialize`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from aerovane.authoring import DAG, BashOperator, Dataset, TriggerDagRunOperator
from aerovane.authoring.sensors import ExternalTaskSensor
from aerovane.cli import cli
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.cli.conftest import fails, ok, store_dags

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_list_jobs(runner: CliRunner) -> None:
    with DAG("etl", schedule=None, start_date=START) as dag:
        BashOperator(task_id="t", bash_command="true")
    store_dags("/dags/etl.py", dag)
    with create_session() as session:
        session.add(models.Job(job_type="SchedulerJob", state="running", start_date=START))
        session.add(models.Job(job_type="TriggererJob", state="success", start_date=START))
    rows = json.loads(ok(runner, "dags", "list-jobs", "-o", "json"))
    assert sorted(row["job_type"] for row in rows) == ["SchedulerJob", "TriggererJob"]
    assert set(rows[0]) == {"dag_id", "state", "job_type", "start_date", "end_date"}
    running = json.loads(ok(runner, "dags", "list-jobs", "--state", "running", "-o", "json"))
    assert [row["job_type"] for row in running] == ["SchedulerJob"]
    assert running[0]["start_date"] == START.isoformat()
    assert len(json.loads(ok(runner, "dags", "list-jobs", "--limit", "1", "-o", "json"))) == 1
    # Task attempts have no job rows here: a DAG's list is empty; an unknown DAG is an error.
    assert json.loads(ok(runner, "dags", "list-jobs", "-d", "etl", "-o", "json")) == []
    assert "nosuchdag was not found" in fails(runner, "dags", "list-jobs", "-d", "nosuchdag").stderr


def test_show_dependencies(runner: CliRunner, tmp_path: Path) -> None:
    with DAG("producer", schedule=None, start_date=START) as producer:
        BashOperator(task_id="make", bash_command="true", outlets=[Dataset("s3://b/x")])
        TriggerDagRunOperator(task_id="kick", trigger_dag_id="waiter")
    with DAG("consumer", schedule=[Dataset("s3://b/x")], start_date=START) as consumer:
        BashOperator(task_id="use", bash_command="true")
    with DAG("waiter", schedule=None, start_date=START) as waiter:
        ExternalTaskSensor(task_id="wait", external_dag_id="producer", external_task_id=None)
    with DAG("alone", schedule=None, start_date=START) as alone:
        BashOperator(task_id="t", bash_command="true")
    store_dags("/dags/deps.py", producer, consumer, waiter, alone)
    dot = ok(runner, "dags", "show-dependencies")
    assert dot.startswith("digraph {\n\tgraph [rankdir=LR]\n")
    for edge in (
        '"producer" -> "s3://b/x"',
        '"s3://b/x" -> "dataset"',
        '"dataset" -> "s3://b/x"',
        '"s3://b/x" -> "consumer"',
        '"producer" -> "kick"',
        '"kick" -> "waiter"',
        '"producer" -> "wait"',
        '"wait" -> "waiter"',
    ):
        assert f"\t\t{edge}\n" in dot, edge
    assert '"alone"' not in dot
    saved = tmp_path / "deps.dot"
    assert ok(runner, "dags", "show-dependencies", "--save", str(saved)) == f"File {saved} saved\n"
    assert saved.read_text() == dot
    assert "only DOT source" in fails(runner, "dags", "show-dependencies", "-s", "x.png").stderr


DAG_FILE = """
import datetime as dt
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("from_file", schedule=None, start_date=dt.datetime(2024, 1, 1)):
    BashOperator(task_id="t", bash_command="true")
"""


def _serialized() -> list[str]:
    with create_session(readonly=True) as session:
        return sorted(session.scalars(select(models.SerializedDagModel.dag_id)))


def test_reserialize(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "good.py").write_text(DAG_FILE)
    out = ok(runner, "dags", "reserialize", "-S", str(folder))
    assert out == "Cleared 0 serialized DAG(s).\nSerialized 1 DAG(s) from 1 file(s).\n"
    assert _serialized() == ["from_file"]
    assert ok(runner, "dags", "reserialize", "--clear-only") == "Cleared 1 serialized DAG(s).\n"
    assert _serialized() == []
    # A broken file is an import error, as the DAG processor records it, and exit 1.
    (folder / "broken.py").write_text("from airflow import DAG\nraise ValueError('boom')\n")
    broken = runner.invoke(cli, ["dags", "reserialize", "-S", str(folder)])
    assert broken.exit_code == 1 and "Import error in" in broken.stderr
    assert _serialized() == ["from_file"]
    with create_session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(models.ImportErrorModel)) == 1
    assert (
        "neither a DAG file nor a folder"
        in fails(runner, "dags", "reserialize", "-S", str(tmp_path / "missing")).stderr
    )
