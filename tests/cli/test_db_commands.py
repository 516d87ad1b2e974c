"""`aerovane db clean` against a real database."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, text, update

from aerovane.authoring import DAG, BashOperator
from aerovane.cli import cli
from aerovane.cli.db_commands import _TABLES
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.db_cleanup import ARCHIVE_PREFIX, TABLES
from tests.cli.conftest import fails, ok, store_dags

OLD = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NEW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def runs(runner: CliRunner) -> None:
    """Four scheduled-looking runs of one DAG (three old, one new) and a manual old one."""
    with DAG("old", schedule="@daily", start_date=OLD) as dag:
        BashOperator(task_id="t", bash_command="true")
    store_dags("/dags/old.py", dag)
    ok(runner, "dags", "backfill", "old", "-s", "2024-01-01", "-e", "2024-01-03")
    ok(runner, "dags", "trigger", "old", "-r", "manual_old", "-e", "2023-06-01")
    with create_session() as session:
        for day in (1, 2, 3):
            session.execute(
                update(models.DagRun)
                .where(models.DagRun.logical_date == dt.datetime(2024, 1, day, tzinfo=dt.UTC))
                .values(start_date=OLD + dt.timedelta(days=day))
            )
        session.execute(
            update(models.DagRun).where(models.DagRun.run_id == "manual_old").values(start_date=OLD)
        )
        session.execute(update(models.TaskInstance).values(start_date=OLD))


def _run_ids() -> list[str]:
    with create_session(readonly=True) as session:
        return sorted(session.scalars(select(models.DagRun.run_id)))


def _ti_count() -> int:
    with create_session(readonly=True) as session:
        return session.scalar(select(func.count()).select_from(models.TaskInstance))


def test_cli_lists_the_tables_the_service_cleans() -> None:
    assert list(_TABLES) == list(TABLES)


def test_dry_run_changes_nothing(runner: CliRunner, runs: None) -> None:
    out = ok(runner, "db", "clean", "--clean-before-timestamp", "2024-03-01", "--dry-run")
    assert "dag_run: 3" in out and "task_instance: 4" in out and "nothing was deleted" in out
    assert len(_run_ids()) == 4 and _ti_count() == 4


def test_clean_keeps_the_newest_scheduled_run_and_archives(
    runner: CliRunner, runs: None, tmp_path: Path
) -> None:
    declined = runner.invoke(
        cli, ["db", "clean", "--clean-before-timestamp", "2024-03-01", "-t", "dag_run"], input="n\n"
    )
    assert declined.exit_code == 1 and len(_run_ids()) == 4
    out = ok(
        runner,
        "db",
        "clean",
        "--clean-before-timestamp",
        "2024-03-01 00:00:00+00:00",
        "-t",
        "dag_run",
        "-y",
    )
    assert "dag_run: 3 row(s) deleted, archived in _airflow_deleted__dag_run__" in out
    assert _run_ids() == ["backfill__2024-01-03T00:00:00+00:00"]
    assert _ti_count() == 1  # task instances of deleted runs go with them
    with create_session(readonly=True) as session:
        archives = [
            name
            for name in inspect(session.connection()).get_table_names()
            if name.startswith(ARCHIVE_PREFIX)
        ]
        assert len(archives) == 1
        archived = session.scalars(text(f'SELECT run_id FROM "{archives[0]}" ORDER BY run_id'))
        assert list(archived) == [
            "backfill__2024-01-01T00:00:00+00:00",
            "backfill__2024-01-02T00:00:00+00:00",
            "manual_old",
        ]
    exported = ok(runner, "db", "export-archived", "--output-path", str(tmp_path / "out"))
    assert "Exported 3 row(s)" in exported
    with (tmp_path / "out" / f"{archives[0]}.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["run_id"] for r in rows)[-1] == "manual_old"
    assert "Dropped 1 archive table(s)" in ok(runner, "db", "drop-archived", "-t", "dag_run", "-y")
    assert "No archive tables" in ok(runner, "db", "drop-archived", "-y")
    assert json.loads(ok(runner, "dags", "list", "-o", "json"))[0]["dag_id"] == "old"


def test_skip_archive_and_bad_input(runner: CliRunner, runs: None) -> None:
    ok(runner, "db", "clean", "--clean-before-timestamp", "2024-03-01", "--skip-archive", "-y")
    assert _ti_count() == 0
    with create_session(readonly=True) as session:
        names = inspect(session.connection()).get_table_names()
    assert not [n for n in names if n.startswith(ARCHIVE_PREFIX)]
    assert (
        "unknown table(s) ['dag']"
        in fails(
            runner, "db", "clean", "--clean-before-timestamp", "2024-03-01", "-t", "dag"
        ).stderr
    )
    assert "ISO-8601" in fails(runner, "db", "clean", "--clean-before-timestamp", "soon").stderr
    assert "Nothing to clean" in ok(runner, "db", "clean", "--clean-before-timestamp", "2000-01-01")
