"""`/metrics` of a component that serves no HTTP of its own: a real `aerovane triggerer` on
`[metrics] triggerer_prometheus_port`, and a port in use refused with one line."""

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

from aerovane.scheduler.liveness import this_host
from tests.conftest import subprocess_home
from tests.standalone_server import free_port


def test_the_triggerer_serves_its_metrics(tmp_path: Path) -> None:
    port = free_port()
    overrides = {
        "AEROVANE__METRICS__TRIGGERER_PROMETHEUS_PORT": str(port),
        "AEROVANE__TRIGGERER__JOB_HEARTBEAT_SEC": "0.2",
    }
    with subprocess_home(tmp_path / "home", overrides) as env:
        proc = start_tree(["triggerer"], env, tmp_path / "triggerer.log")
        try:
            wanted = (
                "airflow_triggerer_heartbeat_total ",
                f'airflow_triggers_running{{hostname="{this_host()}"}} 0.0',
            )
            deadline = time.monotonic() + 120
            text = ""
            while not all(w in text for w in wanted):
                assert proc.poll() is None, (tmp_path / "triggerer.log").read_text()
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
