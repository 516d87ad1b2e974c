"""The parse worker (a child process per DAG file): what it writes for the manager."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_CHILD = (
    "import json, sys\n"
    "from aerovane.dag_processing.parse_worker import parse_file\n"
    "sys.exit(parse_file(json.loads(sys.argv[1])))\n"
)

AIRFLOW_FILE = """
import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.sensors.filesystem import FileSensor

with DAG("written_for_airflow", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    EmptyOperator(task_id="start") >> BashOperator(task_id="say", bash_command="echo hi")
    FileSensor(task_id="wait", filepath="/tmp/x")
"""

AEROVANE_FILE = """
import datetime
from aerovane.authoring import DAG, BashOperator

with DAG("written_for_aerovane", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    BashOperator(task_id="say", bash_command="echo hi")
"""


def _parse(path: Path, dags_folder: Path) -> dict:
    result = path.with_suffix(".json")
    payload = {"path": str(path), "result_path": str(result), "dags_folder": str(dags_folder)}
    subprocess.run([sys.executable, "-c", _CHILD, json.dumps(payload)], check=True, timeout=120)
    return json.loads(result.read_text(encoding="utf-8"))


def _modules(result: dict) -> dict[str, str]:
    assert result["error"] is None, result["error"]
    (dag,) = result["dags"]
    return {t["task_id"]: t["operator_module"] for t in dag["tasks"]}


def test_a_file_written_for_airflow_names_airflow_modules(aerovane_home: Path) -> None:
    """As the API shows `class_ref.module_path` on Airflow for such a file."""
    path = aerovane_home / "airflow_style.py"
    path.write_text(AIRFLOW_FILE, encoding="utf-8")
    assert _modules(_parse(path, aerovane_home)) == {
        "start": "airflow.operators.empty",
        "say": "airflow.operators.bash",
        "wait": "airflow.sensors.filesystem",
    }


def test_a_file_written_for_aerovane_keeps_aerovane_modules(aerovane_home: Path) -> None:
    path = aerovane_home / "aerovane_style.py"
    path.write_text(AEROVANE_FILE, encoding="utf-8")
    assert _modules(_parse(path, aerovane_home)) == {"say": "aerovane.authoring.operators.bash"}
