"""A real `python -m aerovane standalone` subprocess for end-to-end tests: start it in a private
home on free ports, wait until it is healthy, stop it with Ctrl-C.

It always runs on SQLite in that home, even when `AEROVANE_TEST_DATABASE_URL` is set: the
shared test database is emptied by other fixtures. `[webserver] base_url` is the public port's
URL, as a user running on another port than 8080 sets it (key files' `token_uri` and the
environment's `airflowUri` come from it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def standalone_env(home: Path, port: int, api_port: int, **extra: str) -> dict[str, str]:
    """The standalone's environment; CLI commands run with the same one to reach it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__WEBSERVER__WEB_SERVER_PORT=str(port),
        AEROVANE__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
        AEROVANE__WEBSERVER__BASE_URL=f"http://localhost:{port}",
        AEROVANE__PROXY__API_PORT=str(api_port),
        # On Ctrl-C the scheduler gives running tasks this long (a deployment's default is 30).
        AEROVANE__SCHEDULER__SHUTDOWN_GRACE_PERIOD="5",
        **extra,
    )
    return env


def start(home: Path, **extra: str) -> tuple[subprocess.Popen[str], int, int]:
    """(process, public port, API server port); `extra` are more environment variables."""
    port, api_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "standalone"],
        env=standalone_env(home, port, api_port, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, port, api_port


def wait_healthy(url: str, home: Path) -> str:
    """Wait for a healthy scheduler at `url` (…/api/v1) and the admin password; the password."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=10).json()["scheduler"]["status"] == "healthy":
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    secret = home / "standalone_admin_password.txt"
    while time.monotonic() < deadline and not (secret.exists() and secret.read_text()):
        time.sleep(0.02)
    return secret.read_text().strip()


def stop(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C, as a user stops it; its whole output (it must exit 0)."""
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out
