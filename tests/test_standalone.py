"""`aerovane standalone` as a new user runs it: start, trigger over HTTP, read the log, stop.

By default the public port serves the identity-aware proxy and the API server listens on
[proxy] api_port for local scripts (basic auth); `[proxy] enabled = False` serves the API on
the public port as before.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.standalone_server import start, stop, wait_healthy

pytestmark = pytest.mark.embedded_sqlite


def test_standalone_tour(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, port, api_port = start(home)
    url = f"http://127.0.0.1:{api_port}/api/v1"  # the API server itself, for local scripts
    public = f"http://127.0.0.1:{port}"
    try:
        password = wait_healthy(url, home)
        assert (home / "standalone_admin_password.txt").stat().st_mode & 0o077 == 0
        # Standalone runs a triggerer too.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            triggerer = httpx.get(f"{url}/health", timeout=30).json()["triggerer"]
            if triggerer["status"] == "healthy":
                break
            time.sleep(0.05)
        assert triggerer["status"] == "healthy" and triggerer["latest_triggerer_heartbeat"]
        auth = ("admin", password)
        assert httpx.get(f"{url}/dags", timeout=30).status_code == 401
        dag_id = "composer_sample_trigger_response_dag"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            dags = httpx.get(f"{url}/dags", auth=auth, timeout=30).json()["dags"]
            if any(d["dag_id"] == dag_id for d in dags):
                break
            time.sleep(0.05)
        resp = httpx.post(f"{url}/dags/{dag_id}/dagRuns", json={"conf": {"a": 1}}, auth=auth)
        assert resp.status_code == 200, resp.text
        run_id = resp.json()["dag_run_id"]
        deadline = time.monotonic() + 120
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

        # The public port is the proxy: basic auth is no IAP credential there.
        assert httpx.get(f"{public}/api/v1/dags", auth=auth).status_code == 302
        refused = httpx.get(f"{public}/api/v1/dags", headers={"Accept": "application/json"})
        assert refused.status_code == 401
        assert refused.text == "Invalid IAP credentials: empty token"
        # A person signs in on the proxy's page with the same account, then uses the API.
        with httpx.Client(base_url=public, headers={"Accept": "text/html"}) as browser:
            page = browser.get(browser.get("/api/v1/dags").headers["location"])
            state = re.search(r'name=state value="([^"]+)"', page.text).group(1)
            signed_in = browser.post(
                "/_aerovane/login",
                data={"username": "admin", "password": password, "state": state},
            )
            assert signed_in.status_code == 302
            runs = browser.get(f"/api/v1/dags/{dag_id}/dagRuns/{run_id}")
            assert runs.status_code == 200 and runs.json()["state"] == "success"
    finally:
        out = stop(proc)
    assert f"Aerovane is running at http://localhost:{port}" in out
    assert f"password: {password}" in out
    assert re.search(r"OAuth client id: \d{12}-[a-z0-9]{32}\.apps\.googleusercontent\.com", out)
    assert f"API server (direct, basic auth): http://127.0.0.1:{api_port}" in out
    assert "Aerovane stopped." in out


def test_standalone_without_the_proxy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc, port, api_port = start(home, AEROVANE__PROXY__ENABLED="False")
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        password = wait_healthy(url, home)
        assert httpx.get(f"{url}/dags", timeout=30).status_code == 401
        assert httpx.get(f"{url}/dags", auth=("admin", password), timeout=30).status_code == 200
        # One process: the API's /metrics shows the scheduler's figures too.
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 120
        while "airflow_executor_open_slots 32.0" not in (
            text := httpx.get(metrics_url, auth=("admin", password), timeout=30).text
        ):
            assert time.monotonic() < deadline, text[-2000:]
            time.sleep(0.2)
        assert "airflow_scheduler_loop_duration_seconds_count" in text
        with socket.socket() as sock:  # nothing listens on the API port
            assert sock.connect_ex(("127.0.0.1", api_port)) != 0
    finally:
        out = stop(proc)
    assert f"Aerovane is running at http://localhost:{port}" in out
    assert "OAuth client id" not in out
    assert "Aerovane stopped." in out


def _run_cli(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    from tests.standalone_server import free_port, standalone_env

    env = {**standalone_env(home, free_port(), free_port()), **extra}
    return subprocess.run(
        [sys.executable, "-m", "aerovane", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    """Nothing starts (no scheduler, no traceback); the line names the setting to change."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for args, extra in [
            (("standalone",), {"AEROVANE__WEBSERVER__WEB_SERVER_PORT": port}),
            (("standalone",), {"AEROVANE__PROXY__API_PORT": port}),
            (
                ("standalone",),
                {"AEROVANE__WEBSERVER__WEB_SERVER_PORT": port, "AEROVANE__PROXY__ENABLED": "0"},
            ),
            (("api-server",), {"AEROVANE__WEBSERVER__WEB_SERVER_PORT": port}),
        ]:
            result = _run_cli(tmp_path / "home", *args, **extra)
            assert result.returncode == 1, result
            assert result.stdout == ""
            assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}: ")
            assert result.stderr.count("\n") == 1, result.stderr
            assert "is already in use" in result.stderr
            setting = "[proxy] api_port" if "AEROVANE__PROXY__API_PORT" in extra else "[webserver]"
            assert setting in result.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        url = f"postgresql+psycopg://aerovane:s3cret-pw@127.0.0.1:{port}/aerovane"
        for args in (("dags", "list"), ("standalone",), ("users", "list")):
            result = _run_cli(tmp_path / "home", *args, AEROVANE__DATABASE__SQL_ALCHEMY_CONN=url)
            assert result.returncode == 1, result
            assert result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith(
                f"Error: the metadata database postgresql+psycopg://aerovane:***@127.0.0.1:{port}/"
            )
            assert "Connection refused" in result.stderr
            assert "[database] sql_alchemy_conn" in result.stderr
            assert "s3cret-pw" not in result.stdout + result.stderr
