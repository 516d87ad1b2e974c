"""Scale-out figures (issue 12), in three parts; run all or some:

    python benchmarks/scale.py [--part executor|schedulers|api] [--database-url postgresql+psycopg://...]

executor: tasks/s of a 2,000-task no-op DAG (real PythonOperator tasks, each in its own
process) with the local executor and with Celery over Redis at 1, 2 and 4 workers, each worker
a separate `aerovane celery worker` process; the scheduler is `aerovane scheduler`. Figures
are wall time from the run's start to its end as the database records them; quote them with
the machine's core count (printed).

schedulers: tasks/s with 1 and 2 `aerovane scheduler` processes on PostgreSQL, and the trigger
storm over two API servers (benchmarks/scale_schedulers.py, run as its own process).

api: req/s on SQLite and PostgreSQL at 1, 2 and 4 API workers, and the runs list at 1k, 10k and
100k runs (benchmarks/scale_api.py, run as its own process; needs `wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NOOP_DAG = """
import datetime
from aerovane.authoring import DAG, PythonOperator

def noop():
    return None

with DAG("scale_noop", schedule=None, is_paused_upon_creation=False, max_active_tasks={tasks},
         start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)):
    for i in range({tasks}):
        PythonOperator(task_id=f"t{{i}}", python_callable=noop)
"""


# -- executor: local vs Celery workers ----------------------------------------------------------


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "aerovane", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def _home(database_url: str | None, overrides: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh home (and emptied database), this process's settings pointed at it."""
    from aerovane.config import ensure_home, reload_settings
    from aerovane.db.engine import dispose_engines
    from aerovane.db.migrate import migrate

    with tempfile.TemporaryDirectory(prefix="aerovane-scale-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE", "AIRFLOW__"))}
        env.update(
            AEROVANE_HOME=tmp,
            AEROVANE__CORE__LOAD_EXAMPLES="False",
            AEROVANE__CORE__PARALLELISM="64",
            AEROVANE__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.5",
            **overrides,
        )
        if database_url:
            from sqlalchemy import create_engine, text

            with create_engine(database_url).begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = database_url
        saved = {k: v for k, v in os.environ.items() if k.startswith("AEROVANE")}
        os.environ.update({k: v for k, v in env.items() if k.startswith("AEROVANE")})
        dispose_engines()
        reload_settings()
        ensure_home()
        migrate()
        try:
            yield env
        finally:
            dispose_engines()
            for key in [k for k in os.environ if k.startswith("AEROVANE")]:
                del os.environ[key]
            os.environ.update(saved)
            reload_settings()


def _run_seconds(tasks: int, timeout: float = 1800) -> float:
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from benchmarks._crash import trigger_runs, wait_dag, wait_for

    wait_dag("scale_noop", timeout=300)
    (run_id,) = trigger_runs("scale_noop", 1)

    def ended() -> models.DagRun | None:
        with create_session(readonly=True) as session:
            run = session.query(models.DagRun).filter_by(run_id=run_id).one()
            session.expunge(run)
            return run if run.state in ("success", "failed") else None

    run = wait_for(ended, timeout, "the 2,000-task run to end")
    if run.state != "success":
        raise RuntimeError(f"the run ended {run.state}")
    return (run.end_date - run.start_date).total_seconds()


def executor_part(database_url: str | None, tasks: int, workers: list[int], broker: str) -> None:
    print(
        f"== executor: {tasks}-task no-op DAG, {os.cpu_count()} cores, "
        f"database {'PostgreSQL' if database_url else 'SQLite'} =="
    )
    configs: list[tuple[str, dict[str, str], int]] = [("local executor", {}, 0)]
    for n in workers:
        queue = f"scale-{uuid.uuid4().hex[:8]}"
        configs.append(
            (
                f"Celery, {n} worker{'s' if n > 1 else ''}",
                {
                    "AEROVANE__CORE__EXECUTOR": "CeleryExecutor",
                    "AEROVANE__CELERY__BROKER_URL": broker,
                    "AEROVANE__OPERATORS__DEFAULT_QUEUE": queue,
                    "AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT": "0",
                    "AEROVANE__CELERY__WORKER_CONCURRENCY": str(max(1, 32 // n)),
                },
                n,
            )
        )
    local_rate = None
    for label, overrides, n_workers in configs:
        with _home(database_url, overrides) as env:
            from aerovane.config import get_settings

            (get_settings().dags_folder / "scale_noop.py").write_text(NOOP_DAG.format(tasks=tasks))
            log = Path(env["AEROVANE_HOME"]) / "processes.log"
            procs = [_start(["scheduler"], env, log)]
            procs += [_start(["celery", "worker"], env, log) for _ in range(n_workers)]
            try:
                seconds = _run_seconds(tasks)
            finally:
                for proc in procs:
                    _stop(proc)
        rate = tasks / seconds
        local_rate = local_rate or rate
        print(
            f"{label:>22}: {rate:7.1f} tasks/s ({seconds:6.1f} s; per task "
            f"{1000 / rate:5.1f} ms, {local_rate / rate:4.2f}x local)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", action="append", choices=["executor", "schedulers", "api"], default=None
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--broker", default=os.environ.get("AEROVANE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    parts = args.part or ["executor", "schedulers", "api"]
    if "executor" in parts:
        workers = [int(n) for n in args.workers.split(",") if n]
        executor_part(args.database_url, args.tasks, workers, args.broker)
    here = Path(__file__).resolve().parent
    if "schedulers" in parts:
        argv = ["--tasks", str(args.tasks)]
        if args.database_url:
            argv += ["--database-url", args.database_url]
        subprocess.run([sys.executable, str(here / "scale_schedulers.py"), *argv], check=True)
    if "api" in parts:
        argv = ["--workers", "1,2,4"]
        if args.database_url:
            argv += ["--pg-url", args.database_url]
        subprocess.run([sys.executable, str(here / "scale_api.py"), *argv], check=True)


if __name__ == "__main__":
    main()
