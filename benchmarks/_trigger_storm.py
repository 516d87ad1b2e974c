"""Concurrent triggers over several real `aerovane api-server` processes, shared by
`benchmarks/scale_schedulers.py` and the concurrency test: each run id is sent twice, its two
copies to different servers, from many clients at once; the answers are counted by status.

Servers run the `default` auth backend with the Public role granted Admin's permissions
(Airflow's AUTH_ROLE_PUBLIC trick), so the figures measure triggering, not password hashing.
The caller's process must have the same `AEROVANE_HOME` and database configured as the
servers' environment (it prepares the roles and the DAG through the services).
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

STORM_DAG = """
import datetime
from aerovane.authoring import DAG, EmptyOperator
with DAG("storm", schedule=None, start_date=datetime.datetime(2024, 1, 1),
         is_paused_upon_creation=True):
    EmptyOperator(task_id="only")
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open_public_role() -> None:
    """Give the Public role Admin's permissions, so the servers need no credentials."""
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        public = session.query(models.Role).filter_by(name="Public").one()
        admin = session.query(models.Role).filter_by(name="Admin").one()
        public.permissions = list(admin.permissions)


def parse_dags(env: dict[str, str], log: Path, dag_id: str, timeout: float = 120) -> None:
    """Run `aerovane dag-processor` until `dag_id` is stored, then stop it."""
    from benchmarks._crash import start_tree, stop_tree

    proc = start_tree(["dag-processor"], env, log)
    try:
        _wait_stored(dag_id, timeout)
    finally:
        stop_tree(proc)


def _wait_stored(dag_id: str, timeout: float) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from benchmarks._crash import wait_for

    def stored() -> bool:
        with create_session(readonly=True) as session:
            row = session.get(models.DagModel, dag_id)
            return row is not None and row.is_active

    wait_for(stored, timeout, f"DAG {dag_id} to be parsed")


@contextmanager
def api_servers(env: dict[str, str], count: int, log: Path) -> Iterator[list[str]]:
    """`count` separate `aerovane api-server` processes (one worker each); their base URLs."""
    procs: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for _ in range(count):
            port = free_port()
            argv = [sys.executable, "-m", "aerovane", "api-server", "--host", "127.0.0.1"]
            argv += ["--port", str(port), "--workers", "1"]
            server_env = dict(env, AEROVANE__API__AUTH_BACKENDS="aerovane.auth.backends.default")
            with log.open("ab") as err:
                procs.append(
                    subprocess.Popen(argv, env=server_env, stdout=subprocess.DEVNULL, stderr=err)
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_healthy(url, proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the API server at {url} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the API server at {url} did not answer in {timeout}s")


@dataclass
class StormResult:
    statuses: Counter[int]
    #: Status of each answer by run id, in the order they came.
    by_run: dict[str, list[int]]
    seconds: float

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def storm(urls: list[str], dag_id: str, *, runs: int, clients: int, seed: int = 0) -> StormResult:
    """POST each of `runs` run ids twice (copy k to server k mod len(urls)), shuffled, from
    `clients` threads with a connection each per server."""
    jobs = [(f"storm_{i:05d}", copy) for i in range(runs) for copy in range(2)]
    random.Random(seed).shuffle(jobs)
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    by_run: dict[str, list[int]] = {}
    local = threading.local()
    opened: list[httpx.Client] = []

    def send(job: tuple[str, int]) -> None:
        run_id, copy = job
        if not hasattr(local, "clients"):
            local.clients = [httpx.Client(base_url=url, timeout=120) for url in urls]
            with lock:
                opened.extend(local.clients)
        client = local.clients[copy % len(urls)]
        response = client.post(f"/api/v1/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id})
        with lock:
            statuses[response.status_code] += 1
            by_run.setdefault(run_id, []).append(response.status_code)

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            for future in [pool.submit(send, job) for job in jobs]:
                future.result()
        seconds = time.perf_counter() - started
    finally:
        for client in opened:
            client.close()
    return StormResult(statuses=statuses, by_run=by_run, seconds=seconds)


def stored_runs(dag_id: str) -> int:
    from sqlalchemy import func, select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(models.DagRun)
                .where(models.DagRun.dag_id == dag_id)
            )
            or 0
        )
