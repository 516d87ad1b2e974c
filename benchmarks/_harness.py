"""Shared benchmark plumbing: a temporary `aerovane standalone`, timing helpers, PSS."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Standalone:
    home: Path
    #: The API server's own port ([proxy] api_port; basic auth works here).
    url: str
    password: str
    proc: subprocess.Popen[bytes]
    started_in: float
    #: The public port: the identity-aware proxy (or the API itself with [proxy] enabled=False).
    proxy_url: str = ""

    @property
    def auth(self) -> tuple[str, str]:
        return ("admin", self.password)


def compile_bytecode() -> None:
    """Byte-compile Aerovane's sources, as any install has them after its first start.

    An editable install compiles nothing up front, and with PYTHONDONTWRITEBYTECODE set (as in
    some CI images) Python never caches what it compiles, so every start would recompile about
    200 modules (a quarter of a second here): not what a user's second start costs."""
    import compileall

    import aerovane

    compileall.compile_dir(Path(aerovane.__file__).parent, quiet=1)


def wait_healthy(url: str, timeout: float = 60) -> None:
    # One client for all polls: a fresh httpx.get builds an SSL context each time (~20 ms of
    # CPU), and polling every 5 ms that way would take a core from the server being measured.
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                body = client.get(f"{url}/api/v1/health").json()
                if body["scheduler"]["status"] == "healthy":
                    return
            time.sleep(0.005)
    raise RuntimeError("not healthy in time")


@contextlib.contextmanager
def standalone(
    env_extra: dict[str, str] | None = None,
    home: Path | None = None,
    dags: dict[str, str] | None = None,
) -> Iterator[Standalone]:
    """Start `aerovane standalone` in a fresh (or given) home; stop it afterwards."""
    compile_bytecode()
    tmp = None
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="aerovane-bench-")
        home = Path(tmp.name) / "home"
    (home / "dags").mkdir(parents=True, exist_ok=True)
    for name, source in (dags or {}).items():
        (home / "dags" / name).write_text(source)
    port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__WEBSERVER__WEB_SERVER_PORT=str(port),
        AEROVANE__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
        AEROVANE__PROXY__API_PORT=str(api_port),
    )
    env.update(env_extra or {})
    proxied = env.get("AEROVANE__PROXY__ENABLED", "True").lower() not in ("false", "0", "no")
    proxy_url = f"http://127.0.0.1:{port}"
    url = f"http://127.0.0.1:{api_port}" if proxied else proxy_url
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "standalone"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(url)
        took = time.monotonic() - started
        secret = home / "standalone_admin_password.txt"
        while not secret.exists() or not secret.read_text().strip():
            time.sleep(0.01)
        password = secret.read_text().strip()
        yield Standalone(home, url, password, proc, took, proxy_url)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if tmp is not None:
            tmp.cleanup()


def tree_pss_mib(pid: int) -> tuple[float, int]:
    """(PSS of the process and all its descendants in MiB, number of processes)."""
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_full_info().pss
    return total / 2**20, len(procs)


def summary(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    vals = sorted(v * scale for v in values)
    p90 = vals[min(len(vals) - 1, int(len(vals) * 0.9))]
    return (
        f"median {statistics.median(vals):.1f} {unit}  (min {vals[0]:.1f}, p90 {p90:.1f}, "
        f"n={len(vals)})"
    )
