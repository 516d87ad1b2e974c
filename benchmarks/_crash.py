"""A crash rig shared by `benchmarks/crash_recovery.py` and the crash test: a DAG whose tasks
leave one side-effect line per execution, a real Aerovane process tree killed with SIGKILL
(scheduler, zygote and every task process, as a host crash or an OOM kill of the whole
group does), and the accounting of lost and duplicated executions from those side effects.

It talks to the metadata database through the services, in this process, so the caller must
have the same `AEROVANE_HOME` and database configured as the tree it starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

FINAL = ("success", "failed")


def side_effect_dag(
    dag_id: str, out_dir: Path, *, fan: int = 3, seconds: float = 0.5, retries: int = 1
) -> str:
    """`first >> [fan tasks] >> last`, each appending `pid` to `<out>/<dag>__<run>__<task>__<try>`
    when it starts and sleeping `seconds`; `retries` (one by default), so an attempt killed by
    the crash is run again as the next try and every run should end `success`."""
    return textwrap.dedent(
        f"""
        import datetime, os, time
        from aerovane.authoring import DAG, PythonOperator

        OUT = {str(out_dir)!r}

        def work(ti):
            name = f"{{ti.dag_id}}__{{ti.run_id}}__{{ti.task_id}}__{{ti.try_number}}"
            with open(os.path.join(OUT, name), "a") as fh:
                fh.write(f"{{os.getpid()}}\\n")
            time.sleep({seconds!r})

        with DAG(
            {dag_id!r},
            schedule=None,
            start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
            is_paused_upon_creation=False,
            max_active_tasks=64,
            default_args={{"retries": {retries}, "retry_delay": datetime.timedelta(0)}},
        ):
            first = PythonOperator(task_id="first", python_callable=work)
            last = PythonOperator(task_id="last", python_callable=work)
            for i in range({fan}):
                first >> PythonOperator(task_id=f"fan{{i}}", python_callable=work) >> last
        """
    )


def start_tree(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m aerovane <command>` in a session of its own."""
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "aerovane", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def freeze_tree(proc: subprocess.Popen[bytes]) -> set[int]:
    """SIGSTOP `proc` and all its descendants; return their pids.

    Task processes call setsid(), so signalling the process group would miss them: the tree is
    listed again after each round of stops until no new process appears (a stopped zygote
    forks nothing more).
    """
    stopped: set[int] = set()
    while True:
        try:
            tree = {proc.pid} | {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            tree = set()
        new = tree - stopped
        if not new:
            return stopped
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= new


def thaw(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def kill_frozen(proc: subprocess.Popen[bytes], pids: set[int]) -> int:
    """SIGKILL every frozen process at once (nothing of the tree runs in between)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    return len(pids)


def kill_tree(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL `proc` and all its descendants at once; return how many processes died."""
    return kill_frozen(proc, freeze_tree(proc))


def crash_mid_run(
    proc: subprocess.Popen[bytes],
    dag_id: str,
    *,
    succeeded: int,
    timeout: float,
    task_processes_survive: bool = False,
) -> tuple[dict[tuple[str, str], str], set[int]]:
    """Wait until some task instances ended, then freeze the tree; if the frozen metadata
    shows attempts running, kill the tree and return the task-instance states it left, by
    (run id, task id), and the pids left alive, else let it go on and try again.

    The states are those the database showed while the tree was frozen. On PostgreSQL a
    process stopped just after sending COMMIT still has that commit applied by its server
    backend, so an attempt shown `running` may end `success` at try 1 (its commit was in
    flight), and one shown `queued` may have been claimed and then killed (and is retried).

    With `task_processes_survive`, only the server's process group (the main process and its
    zygote) is killed, as when the OOM killer picks the server: task processes, each in a
    session of its own, go on and record their outcomes.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not mid_run(dag_id, succeeded=succeeded):
            time.sleep(0.02)
            continue
        frozen = freeze_tree(proc)
        states = ti_snapshot(dag_id)
        if "running" in states.values():
            survivors = set()
            if task_processes_survive:
                survivors = {pid for pid in frozen if _pgid(pid) != proc.pid}
            kill_frozen(proc, frozen - survivors)
            thaw(survivors)
            return states, survivors
        thaw(frozen)
    raise AssertionError(f"no moment with {dag_id} tasks running in {timeout}s")


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def reap(pids: set[int], timeout: float = 60) -> None:
    """Wait for processes that are not our children to end; kill what is left after `timeout`."""
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()


def stop_tree(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a tree gracefully (SIGTERM), or kill it if it does not stop in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)


def trigger_runs(dag_id: str, count: int) -> list[str]:
    from aerovane.db.engine import create_session
    from aerovane.scheduler.wakeup import notify_schedulers
    from aerovane.services.dag_runs import trigger_dag_run

    run_ids = []
    with create_session() as session:
        for _ in range(count):
            run_ids.append(trigger_dag_run(dag_id, session=session).run_id)
    notify_schedulers()
    return run_ids


def run_states(dag_id: str) -> Counter[str]:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = session.scalars(select(models.DagRun.state).where(models.DagRun.dag_id == dag_id))
        return Counter(str(s) for s in rows)


def ti_snapshot(dag_id: str) -> dict[tuple[str, str], str]:
    """The state of each task instance of `dag_id`, by (run id, task id)."""
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    ti = models.TaskInstance
    with create_session(readonly=True) as session:
        rows = session.execute(select(ti.run_id, ti.task_id, ti.state).where(ti.dag_id == dag_id))
        return {(r.run_id, r.task_id): str(r.state) for r in rows}


def ti_states(dag_id: str) -> Counter[str]:
    return Counter(ti_snapshot(dag_id).values())


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_dag(dag_id: str, timeout: float) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    def parsed() -> bool:
        with create_session(readonly=True) as session:
            row = session.get(models.DagModel, dag_id)
            return row is not None and row.is_active and not row.is_paused

    wait_for(parsed, timeout, f"DAG {dag_id} to be parsed")


def mid_run(dag_id: str, *, succeeded: int) -> bool:
    """At least `succeeded` task instances ended and some are running: a moment to crash."""
    states = ti_states(dag_id)
    return states["success"] >= succeeded and states["running"] > 0


def scheduler_jobs_marked_running() -> set[int]:
    """Scheduler jobs the metadata still calls running (after a crash: the dead ones)."""
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return set(
            session.scalars(
                select(models.Job.id).where(
                    models.Job.job_type == "SchedulerJob", models.Job.state == "running"
                )
            )
        )


def orphans_resolved(dag_id: str, dead_jobs: set[int]) -> bool:
    """No attempt of `dag_id` is still queued or running on behalf of a dead scheduler job."""
    from sqlalchemy import func, select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    ti = models.TaskInstance
    with create_session(readonly=True) as session:
        left = session.scalar(
            select(func.count()).where(
                ti.dag_id == dag_id,
                ti.state.in_(("queued", "running")),
                ti.queued_by_job_id.in_(dead_jobs),
            )
        )
    return left == 0


def all_final(dag_id: str, runs: int) -> bool:
    states = run_states(dag_id)
    return sum(states[s] for s in FINAL) == runs


@dataclass
class Accounting:
    #: Executions seen in side effects (lines written).
    executions: int
    #: Executions of an attempt (dag, run, task, try) beyond its first, plus executions of a try
    #: the metadata never reached (an attempt run although its task instance was reset).
    duplicated: int
    #: Task instances recorded `success` whose attempt left no side effect.
    lost: int
    #: Attempts interrupted by the crash and run again as a later try (not duplicates).
    retried: int
    #: The (run id, task id) of those task instances.
    retried_tis: frozenset[tuple[str, str]]
    #: Task instances not in a final state.
    unfinished: int


def account(dag_id: str, out_dir: Path) -> Accounting:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    lines: dict[tuple[str, str, int], int] = {}
    for path in out_dir.iterdir():
        dag, rest = path.name.split("__", 1)  # run ids hold "__" too
        run_id, task_id, try_number = rest.rsplit("__", 2)
        if dag == dag_id:
            # An empty file: the attempt was killed between opening it and writing its line.
            lines[(run_id, task_id, int(try_number))] = max(1, len(path.read_text().split()))
    ti = models.TaskInstance
    with create_session(readonly=True) as session:
        rows = session.execute(
            select(ti.run_id, ti.task_id, ti.try_number, ti.state).where(ti.dag_id == dag_id)
        ).all()
    tries = {(r.run_id, r.task_id): r.try_number for r in rows}
    duplicated = sum(n - 1 for n in lines.values())
    duplicated += sum(
        n for (run_id, task_id, t), n in lines.items() if t > tries.get((run_id, task_id), 0)
    )
    lost = sum(
        1 for r in rows if r.state == "success" and (r.run_id, r.task_id, r.try_number) not in lines
    )
    return Accounting(
        executions=sum(lines.values()),
        duplicated=duplicated,
        lost=lost,
        retried=sum(1 for r in rows if r.try_number > 1),
        retried_tis=frozenset((r.run_id, r.task_id) for r in rows if r.try_number > 1),
        unfinished=sum(1 for r in rows if r.state not in ("success", "failed", "skipped")),
    )
