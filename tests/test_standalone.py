"""`aerovane standalone` as a new user runs it: start, trigger over HTTP, read the log, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import PG_URL


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_standalone_tour(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__WEBSERVER__WEB_SERVER_PORT=str(port),
        AEROVANE__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
    )
    if PG_URL:
        # The shared test database is emptied by other fixtures; use SQLite here either way.
        pass
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "standalone"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).json()["scheduler"]["status"] == "healthy":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        secret = home / "standalone_admin_password.txt"
        while time.monotonic() < deadline and not (secret.exists() and secret.read_text()):
            time.sleep(0.02)
        password = secret.read_text().strip()
        assert (home / "standalone_admin_password.txt").stat().st_mode & 0o077 == 0
        auth = ("admin", password)
        assert httpx.get(f"{url}/dags", timeout=5).status_code == 401
        dag_id = "composer_sample_trigger_response_dag"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            dags = httpx.get(f"{url}/dags", auth=auth, timeout=5).json()["dags"]
            if any(d["dag_id"] == dag_id for d in dags):
                break
            time.sleep(0.05)
        resp = httpx.post(f"{url}/dags/{dag_id}/dagRuns", json={"conf": {"a": 1}}, auth=auth)
        assert resp.status_code == 200, resp.text
        run_id = resp.json()["dag_run_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run = httpx.get(f"{url}/dags/{dag_id}/dagRuns/{run_id}", auth=auth).json()
            if run["state"] in ("success", "failed"):
                break
            time.sleep(0.05)
        assert run["state"] == "success"
        log = httpx.get(
            f"{url}/dags/{dag_id}/dagRuns/{run_id}/taskInstances/print_gcs_info/logs/1",
            auth=auth,
            headers={"Accept": "text/plain"},
        )
        assert log.status_code == 200 and "{a: 1}" in log.text
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"Aerovane is running at http://localhost:{port}" in out
    assert f"password: {password}" in out
    assert "Aerovane stopped." in out
