"""`/metrics` of a component that serves no HTTP of its own: a real `aerovane triggerer` and
`aerovane dag-processor` on their `[metrics] *_prometheus_port`, and a port in use refused with
one line."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from benchmarks._crash import start_tree, stop_tree

from aerovane.config import get_settings
from aerovane.scheduler.liveness import this_host
from tests.conftest import subprocess_home
from tests.standalone_server import free_port

ONE_DAG = """
import datetime
from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("one", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    EmptyOperator(task_id="only")
"""


@pytest.mark.parametrize(
    ("command", "setting", "wanted"),
    [
        (
            ["triggerer"],
            "TRIGGERER_PROMETHEUS_PORT",
            (
                "airflow_triggerer_heartbeat_total ",
                f'airflow_triggers_running{{hostname="{this_host()}"}} 0.0',
            ),
        ),
        (
            ["dag-processor"],
            "DAG_PROCESSOR_PROMETHEUS_PORT",
            (
                "airflow_dag_processing_total_parse_time_seconds ",
                "airflow_dag_processing_import_errors 0.0",
            ),
        ),
    ],
)
def test_a_component_without_http_serves_its_metrics(
    tmp_path: Path, command: list[str], setting: str, wanted: tuple[str, ...]
) -> None:
    port = free_port()
    overrides = {
        f"AEROVANE__METRICS__{setting}": str(port),
        "AEROVANE__TRIGGERER__JOB_HEARTBEAT_SEC": "0.2",
    }
    with subprocess_home(tmp_path / "home", overrides) as env:
        # A file to parse: the DAG processor reports its figures once a parse pass ends.
        (get_settings().dags_folder / "one.py").write_text(ONE_DAG)
        proc = start_tree(command, env, tmp_path / "component.log")
        try:
            deadline = time.monotonic() + 120
            text = ""
            while not all(w in text for w in wanted):
                assert proc.poll() is None, (tmp_path / "component.log").read_text()
                assert time.monotonic() < deadline, text
                with contextlib.suppress(httpx.ConnectError):  # not listening yet
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                time.sleep(0.1)
        finally:
            stop_tree(proc)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        (["triggerer"], "triggerer_prometheus_port"),
        (["celery", "worker"], "worker_prometheus_port"),
        (["dag-processor"], "dag_processor_prometheus_port"),
    ],
)
def test_a_metrics_port_in_use_is_one_line(
    tmp_path: Path, command: list[str], setting: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        overrides = {
            f"AEROVANE__METRICS__{setting.upper()}": str(port),
            "AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT": "0",
        }
        with subprocess_home(tmp_path / "home", overrides) as env:
            done = subprocess.run(
                [sys.executable, "-m", "aerovane", *command],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"[metrics] {setting}" in lines[0]
