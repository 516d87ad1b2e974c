"""REST API throughput and latency: req/s and p50/p99 with 8 concurrent clients (wrk).

Endpoints: GET /dags, GET /dags/{id}/dagRuns?limit=100 with 10,000 runs in the database, POST
/dags/{id}/dagRuns — each without authentication (the `default` backend with the Public role
granted Admin's permissions, Airflow's AUTH_ROLE_PUBLIC trick) and with HTTP basic auth — and a
bare ASGI app returning a constant, served the same way, as the machine's ceiling.

Needs `wrk` (Debian package `wrk`). Usage: python benchmarks/api.py [--workers N] [--seconds S]
[--only SUBSTRING] [--no-basic] [--warmup S] [--database-url URL]

`--database-url` runs it on that (empty, e.g. PostgreSQL) database instead of SQLite in the home.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import free_port

DAG_FILE = """
import datetime
from aerovane.authoring import DAG, BashOperator
with DAG("bench_api", schedule=None, start_date=datetime.datetime(2024, 1, 1),
         is_paused_upon_creation=False):
    BashOperator(task_id="a", bash_command="true") >> BashOperator(task_id="b", bash_command="true")
"""

CONSTANT_APP = """
BODY = b'{"dags": [], "total_entries": 0}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
"""

WRK_SCRIPT = """
wrk.method = "{method}"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
{auth}
done = function(summary, latency, requests)
  io.write(string.format("RESULT %f %f %f %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status,
    summary.requests))
end
"""


def seed(home: Path, runs: int) -> None:
    """Parse the benchmark DAG and bulk-insert `runs` finished runs."""
    os.environ["AEROVANE_HOME"] = str(home)
    from aerovane.config import ensure_home

    settings = ensure_home()
    path = settings.dags_folder / "bench_api.py"
    path.write_text(DAG_FILE)
    from sqlalchemy import insert, update

    from aerovane.authoring.serialization import serialize_dag
    from aerovane.dag_processing.importer import import_dag_file
    from aerovane.dag_processing.writer import store_parse_result
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.db.migrate import migrate

    migrate()
    dags, _ = import_dag_file(str(path))
    with create_session() as session:
        store_parse_result(
            str(path), [serialize_dag(d) for d in dags.values()], None, session=session
        )
        base = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
        rows = []
        for i in range(runs):
            when = base + dt.timedelta(minutes=i)
            rows.append(
                {
                    "dag_id": "bench_api",
                    "run_id": f"seed__{i}",
                    "logical_date": when,
                    "queued_at": when,
                    "start_date": when,
                    "end_date": when,
                    "state": "success",
                    "run_type": "manual",
                    "external_trigger": True,
                    "conf": {},
                    "data_interval_start": when,
                    "data_interval_end": when,
                    "clear_number": 0,
                }
            )
        for i in range(0, len(rows), 2000):
            session.execute(insert(models.DagRun), rows[i : i + 2000])
        public = session.query(models.Role).filter_by(name="Public").one()
        admin = session.query(models.Role).filter_by(name="Admin").one()
        public.permissions = list(admin.permissions)
        session.execute(update(models.DagModel).values(is_paused=False))
    from aerovane.auth.users import create_user

    with create_session() as session:
        create_user(
            username="bench",
            email="bench@example.com",
            first_name="b",
            last_name="b",
            role_names=["Admin"],
            password="bench-password",
            session=session,
        )


def serve(argv: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    """Start a server and wait (generously: the machine may be busy) until `url` answers."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"server at {url} did not start")


def start_api_server(env: dict[str, str], workers: int) -> tuple[str, subprocess.Popen[bytes]]:
    """`aerovane api-server` on a free port, once it answers: (base URL, process)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "aerovane", "api-server", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers)]
    return base, serve(argv, env, f"{base}/api/v1/health")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT, not SIGKILL: uvicorn then stops its worker processes instead of orphaning them."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wrk(
    url: str,
    seconds: int,
    method: str = "GET",
    body: str = "",
    basic: tuple[str, str] | None = None,
) -> tuple[float, float, float, int, int]:
    """(req/s, p50 ms, p99 ms, non-2xx responses, requests answered) of `seconds` of load."""
    auth = ""
    if basic:
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        auth = f'wrk.headers["Authorization"] = "Basic {token}"'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_SCRIPT.format(method=method, body=body, auth=auth))
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", fh.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(fh.name)
    match = re.search(r"RESULT ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)", out)
    assert match, out
    rps, p50, p99, bad, requests = match.groups()
    return float(rps), float(p50), float(p99), int(bad), int(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--only", default="", help="only the endpoints whose name contains this")
    parser.add_argument("--no-basic", action="store_true", help="skip the basic-auth runs")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="seconds of unmeasured load before each endpoint (the server answers as soon as "
        "one worker is up; the others may still be starting)",
    )
    parser.add_argument("--database-url", default="", help="an empty database instead of SQLite")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install wrk")
    home = Path(tempfile.mkdtemp(prefix="aerovane-apibench-")) / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    if args.database_url:
        os.environ["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
    seed(home, args.runs)
    env["AEROVANE_HOME"] = str(home)
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    ceiling_file = home / "constant_app.py"
    ceiling_file.write_text(textwrap.dedent(CONSTANT_APP))
    proc = serve(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(home),
            "constant_app:app",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env,
        base,
    )
    ceiling = wrk(f"{base}/", args.seconds)
    stop(proc)
    print(
        f"workers={args.workers}, 8 concurrent clients (wrk -t2 -c8), {args.seconds}s each, "
        f"{args.runs} runs in the DB"
    )
    print(
        f"{'ceiling: bare ASGI constant':48} {ceiling[0]:9.0f} req/s  p50 {ceiling[1]:6.2f} ms"
        f"  p99 {ceiling[2]:6.2f} ms"
    )

    cases = [
        ("GET /dags", "GET", "/api/v1/dags", ""),
        ("GET /dags/{id}/dagRuns?limit=100", "GET", "/api/v1/dags/bench_api/dagRuns?limit=100", ""),
        ("POST /dags/{id}/dagRuns", "POST", "/api/v1/dags/bench_api/dagRuns", '{"conf": {}}'),
    ]
    cases = [case for case in cases if args.only in case[0]]
    modes = [
        ("no auth", "aerovane.auth.backends.default"),
        ("basic auth", "aerovane.auth.backends.basic_auth"),
    ][: 1 if args.no_basic else 2]
    results: dict[tuple[str, str], tuple[float, float, float, int]] = {}
    # Both servers run side by side (an idle one costs nothing) and each endpoint is measured
    # A-B-B-A with and without basic auth, so the ratio compares like with like: the runs POST
    # adds, and the machine's drift, affect both modes alike. GETs come before the POSTs.
    servers: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    try:
        for mode, backend in modes:
            env_mode = dict(env, AEROVANE__API__AUTH_BACKENDS=backend)
            servers[mode] = start_api_server(env_mode, args.workers)
        order = [m for m, _ in modes] + [m for m, _ in reversed(modes)]
        for name, method, path, body in cases:
            runs: dict[str, list[tuple[float, float, float, int, int]]] = {m: [] for m, _ in modes}
            for mode in order:
                mode_base = servers[mode][0]
                basic = ("bench", "bench-password") if mode == "basic auth" else None
                if args.warmup:
                    wrk(f"{mode_base}{path}", args.warmup, method, body, basic)
                runs[mode].append(wrk(f"{mode_base}{path}", args.seconds, method, body, basic))
            for mode, measured in runs.items():
                rps = statistics.fmean(r[0] for r in measured)
                p50 = statistics.fmean(r[1] for r in measured)
                p99 = max(r[2] for r in measured)
                bad = sum(r[3] for r in measured)
                res = results[(name, mode)] = (rps, p50, p99, bad)
                flag = f"  ({bad} non-2xx!)" if bad else ""
                print(
                    f"{name + ' [' + mode + ']':48} {res[0]:9.0f} req/s  p50 {res[1]:6.2f} ms"
                    f"  p99 {res[2]:6.2f} ms  = {res[0] / ceiling[0]:.0%} of ceiling{flag}"
                )
    finally:
        for _, proc in servers.values():
            stop(proc)
    print()
    for name, *_ in cases if len(modes) == 2 else ():
        plain, basic = results[(name, "no auth")][0], results[(name, "basic auth")][0]
        print(f"{name:40} basic auth / no auth = {basic / plain:.2f}")


if __name__ == "__main__":
    main()
