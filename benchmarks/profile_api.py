"""Where one API endpoint's CPU goes: py-spy samples of a one-worker api-server under wrk load.

Samples are taken with `py-spy record --gil`, so only the thread holding the GIL is counted:
close to where the worker's Python CPU goes (waits on the network or a queue are left out).
Prints, for each stage of a request (authentication, the handler, thread hand-offs, ...),
its share of the samples and the CPU ms per request of the api-server's process it stands for,
then the busiest functions. Same seed and basic-auth user as `scale_api.py`.

Needs `wrk` and `py-spy` (`pip install py-spy`). Usage:
  python benchmarks/profile_api.py [--pg-url URL] [--path /api/v1/dags] [--method GET]
      [--seconds S]
Without `--pg-url` it profiles SQLite; with it, that database's public schema is reset.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compile_bytecode
from scale_api import APPLICATION_NAME, _cpu_seconds, reset_postgres, seed

from api import start_api_server, stop, wrk

#: Stage name -> a function whose samples (inclusive) belong to it.
STAGES = {
    "authentication (_authenticate)": "_authenticate ",
    "handler in its thread (run_and_finish)": "run_and_finish.<locals>.call_and_finish ",
    "handler inline (db_handler)": "db_handler.<locals>.handler ",
    "hand-off, event loop side (run_in_threadpool)": "run_in_threadpool ",
    "dependencies (solve_dependencies)": "solve_dependencies ",
    "sending the response": "RequestResponseCycle.send ",
    "SQLAlchemy statements (Session.execute)": "Session.execute ",
}


def profile(samples_file: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, samples per stage, counted once per stack, samples per innermost function)."""
    total, stages, innermost = 0, Counter[str](), Counter[str]()
    for line in samples_file.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        for stage, frame in STAGES.items():
            if any(f.startswith(frame) for f in frames):
                stages[stage] += n
        innermost[frames[-1].split(" (")[0]] += n
    return total, stages, innermost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="")
    parser.add_argument("--path", default="/api/v1/dags")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default='{"conf": {}}', help="for POST/PATCH")
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if shutil.which("wrk") is None or not Path(py_spy).exists():
        sys.exit("wrk and py-spy are required")
    compile_bytecode()
    tmp = Path(tempfile.mkdtemp(prefix="aerovane-profileapi-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(tmp / "home"),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__API__AUTH_BACKENDS="aerovane.auth.backends.basic_auth",
    )
    if args.pg_url:
        reset_postgres(args.pg_url)
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = f"{args.pg_url}?application_name=" + (
            APPLICATION_NAME
        )
    body = args.body if args.method in ("POST", "PATCH", "PUT") else ""
    basic = ("bench", "bench-password")
    samples_file = tmp / "samples.txt"
    try:
        seed(env, 10)
        base, server = start_api_server(env, 1)
        try:
            url = f"{base}{args.path}"
            wrk(url, 2, args.method, body, basic)  # warm-up
            argv = [py_spy, "record", "--pid", str(server.pid), "--gil", "--nonblocking"]
            argv += ["-r", "200", "-d", str(args.seconds), "-f", "raw", "-o", str(samples_file)]
            spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = _cpu_seconds(server.pid)
            requests = wrk(url, args.seconds + 1, args.method, body, basic)[4] or 1
            cpu_ms = (_cpu_seconds(server.pid) - before) * 1000 / requests
            spy.wait()
        finally:
            stop(server)
        total, stages, innermost = profile(samples_file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    database = "postgresql" if args.pg_url else "sqlite"
    print(f"\n{args.method} {args.path} on {database}: {cpu_ms:.2f} CPU ms per request")
    print(f"{total} samples holding the GIL; stage: share, ~CPU ms per request (stages nest:")
    print("a hand-off made while solving dependencies counts in both)")
    for stage in STAGES:
        share = stages[stage] / (total or 1)
        print(f"  {stage:48} {share * 100:5.1f}%  {share * cpu_ms:5.2f}")
    print("functions the samples were in (own time, not their callees'):")
    for name, n in innermost.most_common(25):
        print(f"  {n / (total or 1) * 100:5.1f}%  {name}")


if __name__ == "__main__":
    main()
