"""A real `aerovane standalone` (SQLite, examples loaded) shared by a test module."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    home: Path
    url: str
    password: str
    proc: subprocess.Popen[str]

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def auth(self) -> tuple[str, str]:
        return ("admin", self.password)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = httpx.get(f"{self.api}/dags/{dag_id}/dagRuns/{run_id}", auth=self.auth).json()[
                "state"
            ]
            if state in ("success", "failed"):
                return state
            time.sleep(0.05)
        raise AssertionError(f"run {dag_id}/{run_id} did not finish")


def start_server(home: Path, extra_env: dict[str, str] | None = None) -> Server:
    """Standalone, with `Server.url` the API server's own port ([proxy] api_port, basic auth);
    the public port serves the identity-aware proxy."""
    port = free_port()
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__WEBSERVER__WEB_SERVER_PORT=str(port),
        AEROVANE__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
        AEROVANE__PROXY__API_PORT=str(api_port),
        AEROVANE__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
    )
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "standalone"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{api_port}"
    secret = home / "standalone_admin_password.txt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            healthy = httpx.get(f"{url}/api/v1/health", timeout=10).json()["scheduler"]["status"]
            if healthy == "healthy" and secret.exists() and secret.read_text().strip():
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    server = Server(home, url, secret.read_text().strip(), proc)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dags = httpx.get(f"{server.api}/dags", auth=server.auth).json()["dags"]
        if len(dags) >= 4:
            break
        time.sleep(0.05)
    return server


def stop_server(server: Server) -> None:
    server.proc.send_signal(signal.SIGINT)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("e2e") / "home")
    try:
        yield srv
    finally:
        stop_server(srv)
