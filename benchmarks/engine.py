"""Engine latency, throughput and footprint of `aerovane standalone`.

Prints: start-to-healthy time; trigger→first-task-running (median of 30 triggers);
trigger→success of a 1-task DAG, a 20-parallel-task DAG and a 20-task chain; wall time of a
1,000-task DAG; idle memory (PSS, whole process tree) fresh and after the runs.

Tasks are real Python no-op tasks (PythonOperator returning None) that each run in their own
process; EmptyOperator tasks, which the scheduler completes without a process as Airflow does,
are not used here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import standalone, summary, tree_pss_mib

HEADER = """
import datetime
from aerovane.authoring import DAG, PythonOperator
START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
def noop():
    return None
"""

DAGS = {
    "bench_one.py": HEADER
    + """
with DAG("bench_one", schedule=None, start_date=START, is_paused_upon_creation=False):
    PythonOperator(task_id="t0", python_callable=noop)
""",
    "bench_parallel.py": HEADER
    + """
with DAG("bench_parallel20", schedule=None, start_date=START, is_paused_upon_creation=False,
         max_active_tasks=32):
    for i in range(20):
        PythonOperator(task_id=f"t{i}", python_callable=noop)
""",
    "bench_chain.py": HEADER
    + """
with DAG("bench_chain20", schedule=None, start_date=START, is_paused_upon_creation=False):
    prev = None
    for i in range(20):
        cur = PythonOperator(task_id=f"t{i}", python_callable=noop)
        if prev is not None:
            prev >> cur
        prev = cur
""",
    "bench_1000.py": HEADER
    + """
with DAG("bench_1000", schedule=None, start_date=START, is_paused_upon_creation=False,
         max_active_tasks=64):
    for i in range(1000):
        PythonOperator(task_id=f"t{i}", python_callable=noop)
""",
}


def parse_ts(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value).timestamp() if value else None


class Bench:
    def __init__(self, url: str, auth: tuple[str, str]) -> None:
        self.client = httpx.Client(base_url=f"{url}/api/v1", auth=auth, timeout=30)

    def wait_parsed(self, dag_ids: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = {d["dag_id"] for d in self.client.get("/dags?limit=100").json()["dags"]}
            if set(dag_ids) <= got:
                return
            time.sleep(0.1)
        raise RuntimeError(f"DAGs not parsed: {set(dag_ids) - got}")

    def trigger(self, dag_id: str) -> tuple[float, str]:
        t0 = time.time()
        resp = self.client.post(f"/dags/{dag_id}/dagRuns", json={"conf": {}})
        resp.raise_for_status()
        return t0, resp.json()["dag_run_id"]

    def first_running(self, dag_id: str, run_id: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tis = self.client.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
            starts = [parse_ts(t["start_date"]) for t in tis["task_instances"] if t["start_date"]]
            if starts:
                return min(s for s in starts if s is not None)
            time.sleep(0.002)
        raise RuntimeError("no task started")

    def finished(self, dag_id: str, run_id: str, timeout: float = 600) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.client.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()
            if run["state"] in ("success", "failed"):
                return run["state"], parse_ts(run["end_date"]) or time.time()
            time.sleep(0.005)
        raise RuntimeError("run did not finish")

    def run_to_end(self, dag_id: str) -> float:
        t0, run_id = self.trigger(dag_id)
        state, end = self.finished(dag_id, run_id)
        if state != "success":
            raise RuntimeError(f"{dag_id} run {run_id} ended {state}")
        return end - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--triggers", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {"AEROVANE__CORE__LOAD_EXAMPLES": "False"}
    if args.database_url:
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
        from sqlalchemy import create_engine, text

        with create_engine(args.database_url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    print(f"database: {args.database_url or 'SQLite (embedded default)'}")

    starts = []
    for _ in range(args.repeats):
        with standalone(env) as s:
            starts.append(s.started_in)
    print(f"start-to-healthy (fresh home each time, incl. migration): {summary(starts, 's', 1)}")

    with standalone(env, dags=DAGS) as s:
        bench = Bench(s.url, s.auth)
        bench.wait_parsed(["bench_one", "bench_parallel20", "bench_chain20", "bench_1000"])
        time.sleep(3)
        pss, nproc = tree_pss_mib(s.proc.pid)
        print(f"idle memory, fresh: {pss:.1f} MiB PSS in {nproc} processes")

        latencies, one = [], []
        for _ in range(args.triggers):
            t0, run_id = bench.trigger("bench_one")
            latencies.append(bench.first_running("bench_one", run_id) - t0)
            _, end = bench.finished("bench_one", run_id)
            one.append(end - t0)
            time.sleep(0.05)
        print(f"trigger -> first task running: {summary(latencies)}")
        print(f"trigger -> success, 1-task DAG: {summary(one)}")
        par = [bench.run_to_end("bench_parallel20") for _ in range(args.repeats)]
        print(f"trigger -> success, 20 parallel tasks: {summary(par)}")
        chain = [bench.run_to_end("bench_chain20") for _ in range(args.repeats)]
        print(f"trigger -> success, chain of 20 tasks: {summary(chain)}")
        big = bench.run_to_end("bench_1000")
        print(f"wall time, 1,000-task DAG: {big:.2f} s")
        time.sleep(3)
        pss, nproc = tree_pss_mib(s.proc.pid)
        print(f"idle memory, after the runs: {pss:.1f} MiB PSS in {nproc} processes")
    print(f"(medians: start {statistics.median(starts):.2f}s)")


if __name__ == "__main__":
    main()
