"""`aerovane tasks test` and `dags test` show the task's output with its secrets masked, and
`dags test` writes the task's log file masked, as a task process does."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aerovane.cli import _register, cli

DAG_FILE = """
import datetime, logging
from airflow import DAG
from airflow.models import Variable
from airflow.operators.python import PythonOperator

def show():
    key = Variable.get("cli_api_key")
    print("printed", key, Variable.get("cli_region"))
    logging.getLogger("user").info("logged %s", key)
    return {"key": key}

with DAG("cli_masking", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    PythonOperator(task_id="show", python_callable=show)
"""


@pytest.fixture
def runner(db: Path) -> CliRunner:
    _register()
    from aerovane.config import get_settings
    from aerovane.db.secrets import set_variable

    (get_settings().dags_folder / "cli_masking.py").write_text(DAG_FILE)
    set_variable("cli_api_key", "cli-key-5e2b")
    set_variable("cli_region", "cli-region-visible")
    return CliRunner()


def test_tasks_test_masks_secrets(runner: CliRunner) -> None:
    parsed = runner.invoke(cli, ["dags", "test", "cli_masking"], catch_exceptions=False)
    assert parsed.exit_code == 0, parsed.output
    result = runner.invoke(cli, ["tasks", "test", "cli_masking", "show"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cli-key-5e2b" not in result.output
    assert "printed *** cli-region-visible" in result.output
    assert "returned {'key': '***'}" in result.output


def test_dags_test_masks_console_and_log_file(runner: CliRunner) -> None:
    from aerovane.config import get_settings

    result = runner.invoke(cli, ["dags", "test", "cli_masking"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cli-key-5e2b" not in result.output
    assert "printed *** cli-region-visible" in result.output
    logs = list(get_settings().base_log_folder.rglob("*.log"))
    assert logs, "dags test wrote no task log"
    text = "".join(path.read_text(encoding="utf-8") for path in logs)
    assert "cli-key-5e2b" not in text
    assert "printed *** cli-region-visible" in text
