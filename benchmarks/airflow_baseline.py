"""Apache Airflow 2.11's REST API on this machine, measured exactly as `api.py` measures
Aerovane's: the same DAG, 10,000 runs in the database, wrk -t2 -c8, no auth (the `default`
backend with AUTH_ROLE_PUBLIC = Admin) and basic auth.

The issue's targets are "10x Airflow measured on this 2-core machine", but the machine's speed
drifts between days by a third or more (see api.py's bare-ASGI ceiling). This prints today's
Airflow figures so the ratio compares like with like. Airflow is installed into a throwaway
virtualenv (pip, from the configured index); nothing of it touches Aerovane's environment.

Usage: python benchmarks/airflow_baseline.py [--workers N] [--seconds S] [--venv DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import free_port

from api import wrk

AIRFLOW = "apache-airflow==2.11.0"

DAG_FILE = """
import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
with DAG("bench_api", schedule=None, start_date=datetime.datetime(2024, 1, 1),
         is_paused_upon_creation=False):
    BashOperator(task_id="a", bash_command="true") >> BashOperator(task_id="b", bash_command="true")
"""

WEBSERVER_CONFIG = """
from airflow.www.fab_security.manager import AUTH_DB
AUTH_TYPE = AUTH_DB
AUTH_ROLE_PUBLIC = "Admin"
"""

SEED = """
import datetime as dt, sys
from airflow.models import DagRun
from airflow.utils.session import create_session
base = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
rows = []
for i in range(int(sys.argv[1])):
    when = base + dt.timedelta(minutes=i)
    rows.append(dict(dag_id="bench_api", run_id=f"seed__{i}", execution_date=when, queued_at=when,
                     start_date=when, end_date=when, state="success", run_type="manual",
                     external_trigger=True, conf={}, data_interval_start=when,
                     data_interval_end=when, clear_number=0))
with create_session() as session:
    session.bulk_insert_mappings(DagRun, rows)
"""


def install(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "airflow").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", AIRFLOW], check=True)
    return venv / "bin"


def prepare(bin_dir: Path, home: Path, runs: int, env: dict[str, str]) -> None:
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "bench_api.py").write_text(DAG_FILE)
    (home / "webserver_config.py").write_text(WEBSERVER_CONFIG)
    airflow = str(bin_dir / "airflow")
    user = ["-u", "bench", "-e", "bench@example.com", "-f", "b", "-l", "b", "-r", "Admin"]
    for argv in (
        [airflow, "db", "migrate"],
        [airflow, "dags", "reserialize"],
        [str(bin_dir / "python"), "-c", SEED, str(runs)],
        [airflow, "users", "create", *user, "-p", "bench-password"],
    ):
        subprocess.run(argv, env=env, capture_output=True, check=True)


def serve(bin_dir: Path, env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(bin_dir / "airflow"), "webserver", "-p", str(port), "-w", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # gunicorn's workers go with it
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("Airflow's webserver did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (Airflow: 4)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "airflow-2.11")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install wrk")
    bin_dir = install(args.venv)
    home = Path(tempfile.mkdtemp(prefix="airflow-baseline-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AEROVANE__"))}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    prepare(bin_dir, home, args.runs, env)
    cases = [
        ("GET /dags", "GET", "/api/v1/dags", ""),
        ("GET /dags/{id}/dagRuns?limit=100", "GET", "/api/v1/dags/bench_api/dagRuns?limit=100", ""),
        ("POST /dags/{id}/dagRuns", "POST", "/api/v1/dags/bench_api/dagRuns", '{"conf": {}}'),
    ]
    print(f"{AIRFLOW}, gunicorn workers={args.workers}, wrk -t2 -c8, {args.seconds}s each")
    for mode, backend in [
        ("no auth", "airflow.api.auth.backend.default"),
        ("basic auth", "airflow.api.auth.backend.basic_auth"),
    ]:
        port = free_port()
        proc = serve(bin_dir, dict(env, AIRFLOW__API__AUTH_BACKENDS=backend), port, args.workers)
        basic = ("bench", "bench-password") if mode == "basic auth" else None
        try:
            for name, method, path, body in cases:
                url = f"http://127.0.0.1:{port}{path}"
                wrk(url, 2, method, body, basic)
                rps, p50, p99, bad, _ = wrk(url, args.seconds, method, body, basic)
                flag = f"  ({bad} non-2xx!)" if bad else ""
                print(
                    f"{name + ' [' + mode + ']':48} {rps:9.0f} req/s  p50 {p50:7.2f} ms"
                    f"  p99 {p99:7.2f} ms{flag}"
                )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
