"""The real command: `aerovane api-server --workers 2` with `[logging] json_format` writes only
JSON lines, each uvicorn worker's included, naming the request id the client got back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.standalone_server import free_port


@contextmanager
def command(argv: list[str], env: dict[str, str], stderr: Path, health: str) -> Iterator[None]:
    """Run `aerovane <argv>` until `health` answers; SIGTERM it afterwards."""
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aerovane", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, stderr.read_text()
            try:
                if httpx.get(health, timeout=5).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, stderr.read_text()
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _wait_for_line(path: Path, request_id: str, logger: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        found = [
            line
            for line in _lines(path)
            if line.get("request_id") == request_id and line["logger"] == logger
        ]
        if found:
            return found[0]
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.05)


def test_api_server_workers_log_json_with_the_request_id(
    db: Path, admin: httpx.BasicAuth, tmp_path: Path
) -> None:
    """Over 20 s on a busy machine (two spawned workers start): the only test of the command's
    logging set-up reaching processes uvicorn spawns."""
    env = dict(
        os.environ,
        AEROVANE__LOGGING__JSON_FORMAT="True",
        AEROVANE__LOGGING__ACCESS_LOG="True",
    )
    port = free_port()
    api, api_log = f"http://127.0.0.1:{port}", tmp_path / "api.err"
    argv = ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with command(argv, env, api_log, f"{api}/api/v1/health"):
        response = httpx.get(
            f"{api}/api/v1/dags", headers={"X-Request-Id": "chosen-by-me"}, auth=admin
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == "chosen-by-me"  # a label, reached directly
        line = _wait_for_line(api_log, "chosen-by-me", "aerovane.api.access")
    assert line["message"].startswith("GET /api/v1/dags 200 ")
    assert list(line)[:4] == ["timestamp", "level", "logger", "message"]
    # After SIGTERM too, every line the server wrote (its workers' included) is JSON.
    assert len(_lines(api_log)) >= 2
