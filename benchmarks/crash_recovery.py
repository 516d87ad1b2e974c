"""Recovery after SIGKILL of the whole `aerovane standalone` process tree mid-run.

Each round, in a fresh home: trigger RUNS runs of a 5-task DAG whose tasks leave one
side-effect line per execution (`first >> 3 parallel >> last`, 0.5 s each, one retry); once
some tasks have ended and some run, SIGKILL the API server/scheduler process, its zygote and
every task process at once; restart `aerovane standalone` at once (the dead scheduler's
heartbeat still looks fresh) and time restart → every run final. Prints per round and the
median: that time, what the crash left, and the executions lost or duplicated (from the side
effects; target 0 and 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _crash import (
    account,
    all_final,
    crash_mid_run,
    mid_run,
    orphans_resolved,
    run_states,
    scheduler_jobs_marked_running,
    side_effect_dag,
    start_tree,
    stop_tree,
    trigger_runs,
    wait_dag,
    wait_for,
)
from _harness import compile_bytecode, free_port

DAG_ID = "crash_bench"
LEFT_SHOWN = ("running", "queued", "success")


def configure(home: Path, database_url: str | None) -> dict[str, str]:
    """The tree's environment, applied to this process too (it triggers and reads the DB)."""
    from aerovane.config import reload_settings
    from aerovane.db.engine import dispose_engines

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
        AEROVANE__WEBSERVER__WEB_SERVER_PORT=str(free_port()),
        AEROVANE__PROXY__API_PORT=str(free_port()),
        AEROVANE__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.5",
    )
    if database_url:
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = database_url
    os.environ.clear()
    os.environ.update(env)
    dispose_engines()
    reload_settings()
    return env


def reset_database(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def reference(runs: int, database_url: str | None, seconds: float) -> float:
    """Without a crash: from the moment the crash would come to every run final, i.e. how long
    the remaining work takes anyway (the floor for restart -> all final)."""
    with tempfile.TemporaryDirectory(prefix="aerovane-crash-") as tmp:
        home, out = Path(tmp) / "home", Path(tmp) / "side-effects"
        (home / "dags").mkdir(parents=True)
        out.mkdir()
        (home / "dags" / "crash.py").write_text(side_effect_dag(DAG_ID, out, seconds=seconds))
        if database_url:
            reset_database(database_url)
        env = configure(home, database_url)
        from aerovane.db.migrate import migrate

        migrate()
        tree = start_tree(["standalone"], env, home / "standalone.log")
        try:
            wait_dag(DAG_ID, timeout=120)
            trigger_runs(DAG_ID, runs)
            wait_for(lambda: mid_run(DAG_ID, succeeded=runs), 600, "the crash moment")
            moment = time.monotonic()
            wait_for(lambda: all_final(DAG_ID, runs), 600, "every run to be final")
            return time.monotonic() - moment
        finally:
            stop_tree(tree)


def one_round(runs: int, database_url: str | None, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="aerovane-crash-") as tmp:
        home, out = Path(tmp) / "home", Path(tmp) / "side-effects"
        (home / "dags").mkdir(parents=True)
        out.mkdir()
        (home / "dags" / "crash.py").write_text(side_effect_dag(DAG_ID, out, seconds=seconds))
        if database_url:
            reset_database(database_url)
        env = configure(home, database_url)
        from aerovane.db.migrate import migrate

        migrate()  # before this process reads the tables the tree would create
        log = home / "standalone.log"
        first = start_tree(["standalone"], env, log)
        try:
            wait_dag(DAG_ID, timeout=120)
            trigger_runs(DAG_ID, runs)
            left, _ = crash_mid_run(first, DAG_ID, succeeded=runs, timeout=600)
            runs_left = run_states(DAG_ID)
        finally:
            stop_tree(first)
        dead_jobs = scheduler_jobs_marked_running()
        restarted = time.monotonic()
        second = start_tree(["standalone"], env, log)
        try:
            wait_for(lambda: orphans_resolved(DAG_ID, dead_jobs), 600, "orphans to be resolved")
            resolved = time.monotonic() - restarted
            wait_for(lambda: all_final(DAG_ID, runs), 600, "every run to be final")
            took = time.monotonic() - restarted
            result = account(DAG_ID, out)
            final = run_states(DAG_ID)
        finally:
            stop_tree(second)
    return {
        "took": took,
        "resolved": resolved,
        "runs_left": dict(runs_left),
        "tis_left": {k: n for k, n in Counter(left.values()).items() if k in LEFT_SHOWN},
        "final": dict(final),
        "result": result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--task-seconds", type=float, default=0.5)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL (its public schema is reset)"
    )
    args = parser.parse_args()
    compile_bytecode()
    print(
        f"database: {args.database_url or 'SQLite (embedded default)'}; {args.runs} runs x 5 tasks"
    )
    floor = reference(args.runs, args.database_url, args.task_seconds)
    print(f"without a crash, from the same moment to all runs final: {floor:.2f} s")
    times, resolved, duplicated, lost = [], [], 0, 0
    for n in range(1, args.rounds + 1):
        r = one_round(args.runs, args.database_url, args.task_seconds)
        res = r["result"]
        times.append(r["took"])
        resolved.append(r["resolved"])
        duplicated += res.duplicated  # type: ignore[attr-defined]
        lost += res.lost  # type: ignore[attr-defined]
        print(
            f"round {n}: restart -> all runs final {r['took']:.2f} s (orphans of the dead "
            f"scheduler resolved after {r['resolved']:.2f} s); crash left runs "
            f"{r['runs_left']}, task instances {r['tis_left']}; final runs {r['final']}; "
            f"executions {res.executions}, retried after the crash {res.retried}, "  # type: ignore[attr-defined]
            f"duplicated {res.duplicated}, lost {res.lost}, unfinished {res.unfinished}"  # type: ignore[attr-defined]
        )
    print(
        f"restart -> all {args.runs} runs final: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, rounds {len(times)}); restart -> "
        f"orphans resolved: median {statistics.median(resolved):.2f} s; "
        f"duplicated executions {duplicated}, lost executions {lost}"
    )


if __name__ == "__main__":
    main()
