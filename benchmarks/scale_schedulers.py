"""Several schedulers on PostgreSQL (issue 12): tasks/s with 1 and 2 `aerovane scheduler`
processes on a 2,000-task no-op DAG (local executor, `[core] parallelism` slots each), and the
trigger storm at full size: 1,000 triggers from 50 clients over two `aerovane api-server`
processes, each run id sent twice (expect 500 runs, 500 answered 200, 500 answered 409, no 5xx).

The database is emptied first: point it at one of your own (default: `av_ha_bench` on the
local server, created if missing). Usage: python benchmarks/scale_schedulers.py
[--database-url URL] [--tasks N] [--repeat N] [--parallelism N] [--no-storm]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._crash import all_final, run_states, start_tree, stop_tree, wait_dag, wait_for
from benchmarks._trigger_storm import (
    STORM_DAG,
    api_servers,
    open_public_role,
    parse_dags,
    stored_runs,
    storm,
)

NOOP_DAG = """
import datetime
from aerovane.authoring import DAG, PythonOperator

def noop():
    pass

with DAG("noop_wide", schedule=None, start_date=datetime.datetime(2024, 1, 1),
         is_paused_upon_creation=False, max_active_tasks=100_000):
    for i in range({tasks}):
        PythonOperator(task_id=f"t{{i:05d}}", python_callable=noop)
"""


def prepare(url: str, home: Path) -> dict[str, str]:
    """An emptied, migrated database and a home; the environment for child processes (this
    process is switched to the same settings)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if (
            conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": base.database}
            ).scalar()
            is None
        ):
            conn.execute(text(f'CREATE DATABASE "{base.database}"'))
    admin.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__DATABASE__SQL_ALCHEMY_CONN=url,
        AEROVANE__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.5",
    )
    for key in list(os.environ):
        if key.startswith(("AEROVANE__", "AIRFLOW__")):
            del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("AEROVANE")})
    from aerovane.config import ensure_home, reload_settings
    from aerovane.db.engine import dispose_engines, get_engine
    from aerovane.db.migrate import ensure_default_rows, migrate
    from aerovane.db.models import Base

    dispose_engines()
    reload_settings()
    ensure_home()
    migrate()
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    ensure_default_rows()
    return env


def tasks_per_second(env: dict[str, str], home: Path, schedulers: int, tasks: int) -> float:
    """Start `schedulers` schedulers, trigger one run of the wide DAG, time it to its end."""
    from benchmarks._crash import trigger_runs

    log = home / f"schedulers-{schedulers}.log"
    trees = [start_tree(["scheduler"], env, log)]
    trees += [
        start_tree(["scheduler", "--no-dag-processor"], env, log) for _ in range(schedulers - 1)
    ]
    try:
        wait_dag("noop_wide", timeout=300)
        time.sleep(2)  # let every scheduler finish starting (its zygote, its first passes)
        before = run_states("noop_wide").total()
        started = time.perf_counter()
        trigger_runs("noop_wide", 1)
        wait_for(lambda: all_final("noop_wide", before + 1), 1800, "the wide run to finish")
        took = time.perf_counter() - started
    finally:
        for tree in trees:
            stop_tree(tree, timeout=120)
    states = run_states("noop_wide")
    if states.get("failed"):
        raise SystemExit(f"a wide run failed: {dict(states)}; see {log}")
    return tasks / took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/av_ha_bench"
    )
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--parallelism", type=int, default=32)
    parser.add_argument("--no-storm", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="aerovane-scale-") as tmp:
        home = Path(tmp) / "home"
        env = prepare(args.database_url, home)
        env["AEROVANE__CORE__PARALLELISM"] = str(args.parallelism)
        from aerovane.config import get_settings

        dags = get_settings().dags_folder
        (dags / "noop_wide.py").write_text(NOOP_DAG.format(tasks=args.tasks))
        print(
            f"machine: {os.cpu_count()} cores; PostgreSQL; local executor, parallelism "
            f"{args.parallelism} per scheduler; {args.tasks}-task no-op DAG (one run)"
        )
        figures: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.repeat):
            for schedulers in (1, 2):
                figures[schedulers].append(tasks_per_second(env, home, schedulers, args.tasks))
        for schedulers, values in figures.items():
            print(
                f"  {schedulers} scheduler(s): {statistics.median(values):7.1f} tasks/s "
                f"(median of {len(values)}: {', '.join(f'{v:.1f}' for v in values)})"
            )
        print(f"  2 vs 1: {statistics.median(figures[2]) / statistics.median(figures[1]):.2f}x")

        if not args.no_storm:
            (dags / "storm.py").write_text(STORM_DAG)
            parse_dags(env, home / "dag-processor.log", "storm")
            open_public_role()
            with api_servers(env, 2, home / "api.log") as urls:
                result = storm(urls, "storm", runs=500, clients=50)
            fives = sum(n for status, n in result.statuses.items() if status >= 500)
            print(
                f"trigger storm: {result.requests} POST dagRuns from 50 clients over 2 API "
                f"servers in {result.seconds:.1f} s ({result.requests / result.seconds:.0f} "
                f"req/s): statuses {dict(sorted(result.statuses.items()))}, "
                f"{stored_runs('storm')} runs stored, {fives} 5xx"
            )


if __name__ == "__main__":
    main()
