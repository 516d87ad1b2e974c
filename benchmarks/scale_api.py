"""The API on SQLite and PostgreSQL side by side: req/s with 1 and 2 API workers, and the runs
list at 1k, 10k and 100k runs (wrk, 8 concurrent clients, basic auth as a script would use).

Throughput moves with whatever else the machine runs, so each figure also has the CPU time
per request it cost: of the api-server's process tree (utime+stime from /proc, before and after
the measured requests) and, on PostgreSQL, of the server backends serving it (found by their
`application_name`). Those two stay put on a busy machine where req/s does not.

Endpoints: GET /dags, POST /dags/{id}/dagRuns, GET /dags/{id}/dagRuns?limit=100 (the runs list,
with its `total_entries`). Each figure is the mean of two runs of `--seconds` after a warm-up.
The PostgreSQL database named by `--pg-url` has its public schema reset.

Needs `wrk` (Debian package `wrk`). Usage:
  python benchmarks/scale_api.py [--pg-url URL] [--only sqlite|postgresql] [--workers 1,2]
      [--runs 1000,10000,100000] [--seconds S]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compile_bytecode

from api import start_api_server, stop, wrk

SEED = """
import datetime as dt, os, sys
from sqlalchemy import func, insert, select, update
from aerovane.config import ensure_home
settings = ensure_home()
path = settings.dags_folder / "bench_api.py"
path.write_text('''
import datetime
from aerovane.authoring import DAG, BashOperator
with DAG("bench_api", schedule=None, start_date=datetime.datetime(2024, 1, 1),
         is_paused_upon_creation=False):
    BashOperator(task_id="a", bash_command="true") >> BashOperator(task_id="b", bash_command="true")
''')
from aerovane.authoring.serialization import serialize_dag
from aerovane.dag_processing.importer import import_dag_file
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.migrate import migrate
from aerovane.auth.users import create_user, find_user
migrate()
target = int(sys.argv[1])
with create_session() as session:
    if session.get(models.DagModel, "bench_api") is None:
        dags, _ = import_dag_file(str(path))
        store_parse_result(str(path), [serialize_dag(d) for d in dags.values()], None,
                           session=session)
        session.execute(update(models.DagModel).values(is_paused=False))
    if find_user("bench", session=session) is None:
        create_user(username="bench", email="bench@example.com", first_name="b", last_name="b",
                    role_names=["Admin"], password="bench-password", session=session)
with create_session() as session:
    have = session.scalar(select(func.count()).select_from(models.DagRun)
                          .where(models.DagRun.run_id.like("seed__%")))
    base = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(have, target):
        when = base + dt.timedelta(minutes=i)
        rows.append(dict(dag_id="bench_api", run_id=f"seed__{i}", logical_date=when,
                         queued_at=when, start_date=when, end_date=when, state="success",
                         run_type="manual", external_trigger=True, conf={},
                         data_interval_start=when, data_interval_end=when, clear_number=0))
    for i in range(0, len(rows), 5000):
        session.execute(insert(models.DagRun), rows[i : i + 5000])
"""


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def seed(env: dict[str, str], runs: int) -> None:
    subprocess.run([sys.executable, "-c", SEED, str(runs)], env=env, check=True)
    if "postgresql" in env.get("AEROVANE__DATABASE__SQL_ALCHEMY_CONN", ""):
        from sqlalchemy import create_engine, text

        url = env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"]
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        engine.dispose()


APPLICATION_NAME = "aerovane-scale-api"


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _backends(pg_url: str | None) -> list[int]:
    """The PostgreSQL backends serving the API server (by `application_name`)."""
    if not pg_url:
        return []
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    with engine.connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION_NAME},
        ).all()
    engine.dispose()
    return list(pids)


@dataclass
class Figure:
    rps: float
    #: CPU milliseconds per request: the api-server's process tree, the PostgreSQL backends.
    api_ms: float
    db_ms: float


def measure(
    url: str,
    seconds: int,
    server: subprocess.Popen[bytes],
    pg_url: str | None,
    method: str = "GET",
    body: str = "",
) -> Figure:
    basic = ("bench", "bench-password")
    wrk(url, 2, method, body, basic)  # warm-up
    pids, backends = _tree(server.pid), _backends(pg_url)
    before = {pid: _cpu_seconds(pid) for pid in pids + backends}
    results = [wrk(url, seconds, method, body, basic) for _ in range(2)]
    backends = sorted(set(backends) | set(_backends(pg_url)))
    requests = sum(r[4] for r in results) or 1

    def spent(group: list[int]) -> float:
        # A backend that closed meanwhile reads as 0: it counts for nothing rather than less.
        used = (max(0.0, _cpu_seconds(pid) - before.get(pid, 0.0)) for pid in group)
        return sum(used) * 1000 / requests

    return Figure(sum(r[0] for r in results) / 2, spent(pids), spent(backends))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", default="", help="sqlite or postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", default="1000,10000,100000")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is required: apt-get install wrk")
    compile_bytecode()
    workers = [int(w) for w in args.workers.split(",")]
    sizes = [int(n) for n in args.runs.split(",") if n]
    databases = [d for d in ("sqlite", "postgresql") if args.only in d]
    results: dict[tuple[str, str], Figure] = {}
    tmp = Path(tempfile.mkdtemp(prefix="aerovane-scaleapi-"))
    pg_url = str(make_url(args.pg_url).update_query_dict({"application_name": APPLICATION_NAME}))
    try:
        for database in databases:
            home = tmp / database
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))
            }
            env.update(
                AEROVANE_HOME=str(home),
                AEROVANE__CORE__LOAD_EXAMPLES="False",
                AEROVANE__API__AUTH_BACKENDS="aerovane.auth.backends.basic_auth",
            )
            db_url = None
            if database == "postgresql":
                db_url = args.pg_url
                env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = pg_url
                reset_postgres(args.pg_url)
            seed(env, sizes[0] if sizes else 0)
            for n in workers:
                base, proc = start_api_server(env, n)
                try:
                    results[(database, f"GET /dags, {n}w")] = measure(
                        f"{base}/api/v1/dags", args.seconds, proc, db_url
                    )
                    results[(database, f"POST dagRuns, {n}w")] = measure(
                        f"{base}/api/v1/dags/bench_api/dagRuns",
                        args.seconds,
                        proc,
                        db_url,
                        "POST",
                        '{"conf": {}}',
                    )
                finally:
                    stop(proc)
            for size in sizes:
                seed(env, size)
                base, proc = start_api_server(env, 1)
                try:
                    results[(database, f"runs list @{size // 1000}k, 1w")] = measure(
                        f"{base}/api/v1/dags/bench_api/dagRuns?limit=100",
                        args.seconds,
                        proc,
                        db_url,
                    )
                finally:
                    stop(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, databases, sizes, args.seconds)


def report(
    results: dict[tuple[str, str], Figure], databases: list[str], sizes: list[int], seconds: int
) -> None:
    cores = os.cpu_count()
    print(f"\n{cores} cores; wrk -t2 -c8, basic auth, req/s (mean of 2 x {seconds}s)")
    print("CPU ms per request: api = the api-server's process tree, db = PostgreSQL's backends")
    names = list(dict.fromkeys(name for _, name in results))
    two = len(databases) == 2
    header = "".join(f"{d + ' req/s':>18}{'api ms':>8}{'db ms':>7}" for d in databases)
    print(f"{'':24}" + header + ("  PG/SQLite req/s, CPU" if two else ""))
    for name in names:
        row = [results.get((d, name)) for d in databases]
        line = f"{name:24}"
        for figure in row:
            line += (
                f"{figure.rps:18.0f}{figure.api_ms:8.2f}{figure.db_ms:7.2f}"
                if figure
                else f"{'-':>33}"
            )
        if two and row[0] and row[1]:
            sqlite, pg = row[0], row[1]
            line += f"  {pg.rps / sqlite.rps:9.2f} {(pg.api_ms + pg.db_ms) / sqlite.api_ms:6.2f}"
        print(line)
    for database in databases:
        one = results.get((database, "GET /dags, 1w"))
        both = results.get((database, "GET /dags, 2w"))
        if one and both:
            print(f"{database}: GET /dags 2 workers / 1 worker = {both.rps / one.rps:.2f}")
        small = results.get((database, f"runs list @{sizes[0] // 1000}k, 1w")) if sizes else None
        big = results.get((database, f"runs list @{sizes[-1] // 1000}k, 1w")) if sizes else None
        if small and big:
            print(
                f"{database}: runs list {sizes[-1]} / {sizes[0]} runs = {big.rps / small.rps:.2f}"
                f" (CPU per request {small.api_ms + small.db_ms:.2f} -> "
                f"{big.api_ms + big.db_ms:.2f} ms)"
            )


if __name__ == "__main__":
    main()
