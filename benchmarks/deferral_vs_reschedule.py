"""1,000 waits at once: deferred on timers in the triggerer, then as `reschedule` sensors.

Starts `aerovane scheduler` (with its DAG processor, zygote and task processes) and `aerovane
triggerer` as separate processes on SQLite in a temporary home, and runs two DAGs of N tasks:

- `bench_deferral`: each task defers on a `DateTimeTrigger` due at `t0 + window * i / N` and,
  resumed, writes the time its resume method started;
- `bench_reschedule`: each task is a `reschedule`-mode sensor (`poke_interval` P) whose poke is
  true from that same due time on, and writes the time of its first true poke.

`t0` is `--lead` seconds after the run is triggered, so every task has started waiting before
the first timer is due (the script says so, or says by how much it missed). Prints per mode: the
spread between each task's due time and its resume (median, p99, max), the triggerer's RSS
(idle and at most while the N triggers wait) and CPU seconds, the scheduler's process tree CPU
seconds (scheduler, DAG processor, zygote and every task process it reaped), split into the
start of the waits and the waiting-and-resuming, and the number of task attempts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import compile_bytecode

DAG = '''
import datetime as dt
import pathlib
import time

from aerovane.authoring import DAG
from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.triggers.temporal import DateTimeTrigger

N = {n}
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def due(params, index):
    return params["t0"] + params["window"] * index / N


def record(params, index, due_at):
    """One file per task: its due time and when it resumed (epoch seconds)."""
    pathlib.Path(params["out"], f"{{index}}").write_text(f"{{due_at}} {{time.time()}}")


class Timer(BaseOperator):
    def __init__(self, *, index, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def execute(self, context):
        due_at = due(context["params"], self.index)
        moment = dt.datetime.fromtimestamp(due_at, dt.timezone.utc)
        trigger = DateTimeTrigger(moment)
        self.defer(trigger=trigger, method_name="resume", kwargs={{"due_at": due_at}})

    def resume(self, context, event=None, due_at=0.0):
        record(context["params"], self.index, due_at)


class Waiter(BaseSensorOperator):
    def __init__(self, *, index, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def poke(self, context):
        due_at = due(context["params"], self.index)
        if time.time() < due_at:
            return False
        record(context["params"], self.index, due_at)
        return True


PARAMS = {{"t0": 0.0, "window": 0.0, "out": ""}}
with DAG("bench_deferral", schedule=None, start_date=START, max_active_tasks=N,
         is_paused_upon_creation=False, params=PARAMS):
    for i in range(N):
        Timer(task_id=f"t{{i}}", index=i)

with DAG("bench_reschedule", schedule=None, start_date=START, max_active_tasks=N,
         is_paused_upon_creation=False, params=PARAMS):
    for i in range(N):
        Waiter(task_id=f"t{{i}}", index=i, mode="reschedule", poke_interval={poke}, timeout=86400)
'''


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its living descendants, with the children they reaped."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
    return total


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


@dataclass
class Processes:
    home: Path
    env: dict[str, str]
    scheduler: subprocess.Popen[bytes]
    triggerer: subprocess.Popen[bytes]

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.home / "aerovane.db", timeout=60)
        conn.execute("PRAGMA query_only = 1")
        return conn


@contextlib.contextmanager
def processes(n: int, poke: float) -> Iterator[Processes]:
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="aerovane-bench-") as tmp:
        home = Path(tmp) / "home"
        (home / "dags").mkdir(parents=True)
        (home / "dags" / "bench_waits.py").write_text(DAG.format(n=n, poke=poke))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE", "AIRFLOW__"))}
        env.update(AEROVANE_HOME=str(home), AEROVANE__CORE__LOAD_EXAMPLES="False")
        aerovane = [sys.executable, "-m", "aerovane"]
        subprocess.run([*aerovane, "db", "migrate"], env=env, check=True, capture_output=True)
        logs = [(home / f"{name}.log").open("wb") for name in ("scheduler", "triggerer")]
        scheduler = subprocess.Popen(
            [*aerovane, "scheduler"], env=env, stdout=logs[0], stderr=logs[0]
        )
        triggerer = subprocess.Popen(
            [*aerovane, "triggerer"], env=env, stdout=logs[1], stderr=logs[1]
        )
        try:
            yield Processes(home, env, scheduler, triggerer)
        finally:
            for proc in (triggerer, scheduler):
                proc.send_signal(signal.SIGINT)
            for proc in (triggerer, scheduler):
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for log in logs:
                log.close()


def wait_for(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.5)


def states(procs: Processes, dag_id: str) -> dict[str, int]:
    with contextlib.closing(procs.db()) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM task_instance WHERE dag_id = ? GROUP BY state", (dag_id,)
        ).fetchall()
    return {state or "none": count for state, count in rows}


def rescheduled(procs: Processes, dag_id: str) -> int:
    """Tasks with a reschedule: sensors whose first poke said "not yet"."""
    with contextlib.closing(procs.db()) as conn:
        query = "SELECT count(DISTINCT task_id) FROM task_reschedule WHERE dag_id = ?"
        return int(conn.execute(query, (dag_id,)).fetchone()[0])


def spread(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return (
        f"median {statistics.median(values) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {values[-1] * 1000:.0f} ms (n={len(values)})"
    )


def fired_at(home: Path, dag_id: str, task_id: str) -> float:
    """When the triggerer logged the task's trigger event (its line in the task's log, local
    time with milliseconds)."""
    (log,) = (home / "logs" / f"dag_id={dag_id}").glob(f"run_id=*/task_id={task_id}/attempt=1.log")
    for line in log.read_text().splitlines():
        if "Trigger fired event" in line:
            stamp = dt.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.astimezone().timestamp()  # naive local time -> epoch
    raise SystemExit(f"no trigger event in {log}")


def run_mode(procs: Processes, dag_id: str, waiting_state: str, args: argparse.Namespace) -> None:
    out = procs.home / dag_id
    out.mkdir()
    sched_pid, trig_pid = procs.scheduler.pid, procs.triggerer.pid
    trig_rss_idle = rss_mib(trig_pid)
    cpu0 = (cpu_seconds(sched_pid), cpu_seconds(trig_pid))
    t0 = time.time() + args.lead
    conf = {"t0": t0, "window": args.window, "out": str(out)}
    subprocess.run(
        [sys.executable, "-m", "aerovane", "dags", "trigger", dag_id, "-c", json.dumps(conf)],
        env=procs.env,
        check=True,
        capture_output=True,
    )

    # Every task has started its wait (deferred, or past a first poke that said "not yet"), or
    # is done already (its first check came after its due time: the lead was too short).
    def all_waiting() -> bool:
        done = sum(1 for _ in out.iterdir())
        if waiting_state == "deferred":
            return states(procs, dag_id).get("deferred", 0) + done >= args.tasks
        return rescheduled(procs, dag_id) + done >= args.tasks

    wait_for(f"{dag_id}: all tasks waiting", all_waiting, args.lead + 600)
    waiting_at = time.time()
    cpu1 = (cpu_seconds(sched_pid), cpu_seconds(trig_pid))
    trig_rss_peak = rss_mib(trig_pid)

    def all_done() -> bool:
        nonlocal trig_rss_peak
        trig_rss_peak = max(trig_rss_peak, rss_mib(trig_pid))
        counts = states(procs, dag_id)
        if counts.get("failed") or counts.get("upstream_failed"):
            raise SystemExit(f"{dag_id}: tasks failed: {counts}")
        return counts.get("success", 0) >= args.tasks

    wait_for(f"{dag_id}: all tasks resumed", all_done, args.lead + args.window + 1800)
    cpu2 = (cpu_seconds(sched_pid), cpu_seconds(trig_pid))
    with contextlib.closing(procs.db()) as conn:
        attempts = conn.execute(
            "SELECT count(*) FROM task_reschedule WHERE dag_id = ?", (dag_id,)
        ).fetchone()[0] + args.tasks * (2 if waiting_state == "deferred" else 1)
    lateness, fired = [], []
    for path in out.iterdir():
        due_at, resumed = map(float, path.read_text().split())
        lateness.append(resumed - due_at)
        if waiting_state == "deferred":
            fired.append(fired_at(procs.home, dag_id, f"t{path.name}") - due_at)

    print(f"\n== {dag_id}: {args.tasks} tasks, due over {args.window:.0f} s from t0")
    margin = t0 - waiting_at
    if margin >= 0:
        print(f"all {args.tasks} waiting {margin:.1f} s before the first due time")
    else:
        print(
            f"!! the last task started waiting {-margin:.1f} s after the first due time "
            "(raise --lead)"
        )
    if waiting_state == "up_for_reschedule" and (late := args.tasks - rescheduled(procs, dag_id)):
        print(f"!! {late} sensors found their time due at their first poke (never waited)")
    print(f"due -> task resumed on a worker: {spread(lateness)}")
    if fired:
        print(f"due -> trigger fired in the triggerer (its log line): {spread(fired)}")
    print(f"task attempts (process starts): {attempts}")
    print(
        f"triggerer: RSS idle {trig_rss_idle:.1f} MiB, at most {trig_rss_peak:.1f} MiB; CPU "
        f"{cpu1[1] - cpu0[1]:.1f} s while the waits started, {cpu2[1] - cpu1[1]:.1f} s "
        "waiting and resuming"
    )
    print(
        f"scheduler tree (scheduler, DAG processor, zygote, tasks): CPU {cpu1[0] - cpu0[0]:.1f} s "
        f"while the waits started, {cpu2[0] - cpu1[0]:.1f} s waiting and resuming"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--lead", type=float, default=120.0, help="trigger -> first due (s)")
    parser.add_argument("--window", type=float, default=60.0, help="first due -> last due (s)")
    parser.add_argument("--poke-interval", type=float, default=30.0, help="reschedule mode (s)")
    parser.add_argument("--mode", choices=("both", "deferral", "reschedule"), default="both")
    args = parser.parse_args()
    print(f"database: SQLite; {os.cpu_count()} CPUs; poke_interval {args.poke_interval:.0f} s")
    with processes(args.tasks, args.poke_interval) as procs:

        def parsed() -> bool:
            with (
                contextlib.closing(procs.db()) as conn,
                contextlib.suppress(sqlite3.OperationalError),
            ):
                return conn.execute("SELECT count(*) FROM serialized_dag").fetchone()[0] >= 2
            return False

        wait_for("the DAGs to be parsed", parsed, 300)
        if args.mode in ("both", "deferral"):
            run_mode(procs, "bench_deferral", "deferred", args)
        if args.mode in ("both", "reschedule"):
            run_mode(procs, "bench_reschedule", "up_for_reschedule", args)


if __name__ == "__main__":
    main()
