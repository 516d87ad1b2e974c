"""How punctually a sensor in `reschedule` mode pokes again, in `aerovane standalone`.

Runs DAGs whose `@task.sensor` (reschedule mode) is done on its Nth poke, and prints, from the
`task_reschedule` rows: the lateness of each poke (its start minus the reschedule date the
previous poke asked for: the scheduler's wake-up plus queueing plus process start), and the
whole run's wall time next to the sum of the poke intervals it had to wait.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import standalone, summary

DAG = """
import datetime, pathlib
from aerovane.authoring import dag, task
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)

@dag(schedule=None, start_date=START, is_paused_upon_creation=False)
def bench_reschedule(counter: str = "", pokes: int = 10):
    @task.sensor(mode="reschedule", poke_interval={interval}, timeout=3600)
    def nth_poke(params=None):
        path = pathlib.Path(params["counter"])
        n = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(n))
        return n >= params["pokes"]

    nth_poke()

bench_reschedule()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pokes", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    env = {"AEROVANE__CORE__LOAD_EXAMPLES": "False"}
    if args.database_url:
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
        from sqlalchemy import create_engine, text

        with create_engine(args.database_url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    print(f"database: {args.database_url or 'SQLite (embedded default)'}")
    dags = {"bench_reschedule.py": DAG.format(interval=args.interval)}
    with standalone(env, dags=dags) as server:
        os.environ["AEROVANE_HOME"] = str(server.home)
        if args.database_url:
            os.environ["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
        from aerovane.config import reload_settings

        reload_settings()
        client = httpx.Client(base_url=f"{server.url}/api/v1", auth=server.auth, timeout=30)
        deadline = time.monotonic() + 120
        while client.get("/dags/bench_reschedule").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("DAG not parsed")
            time.sleep(0.1)
        lateness: list[float] = []
        overheads: list[float] = []
        for i in range(args.runs):
            counter = server.home / f"counter-{i}"
            conf = {"counter": str(counter), "pokes": args.pokes}
            started = time.monotonic()
            run = client.post("/dags/bench_reschedule/dagRuns", json={"conf": conf}).json()
            run_id = run["dag_run_id"]
            while True:
                state = client.get(f"/dags/bench_reschedule/dagRuns/{run_id}").json()["state"]
                if state in ("success", "failed"):
                    break
                time.sleep(0.01)
            wall = time.monotonic() - started
            if state != "success":
                raise RuntimeError(f"run {run_id} ended {state}")
            rows = _reschedules(run_id)
            lateness += [b.start_date.timestamp() - a.reschedule_date.timestamp() for a, b in rows]
            overheads.append(wall - (args.pokes - 1) * args.interval)
        print(f"pokes per run: {args.pokes}, poke_interval {args.interval}s, runs: {args.runs}")
        print(f"poke lateness after its reschedule date: {summary(lateness)}")
        print(f"run wall time beyond the waits it asked for: {summary(overheads)}")


def _reschedules(run_id: str) -> list[tuple[Any, Any]]:
    """(previous poke, next poke) pairs of the run's reschedule rows, by time."""
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    tr = models.TaskReschedule
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(tr).where(tr.run_id == run_id).order_by(tr.id)))
        session.expunge_all()
    return list(itertools.pairwise(rows))


if __name__ == "__main__":
    main()
