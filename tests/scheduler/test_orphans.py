"""Orphan recovery over a real database and real processes: dead jobs and dead task processes on
this host are found without waiting for a heartbeat timeout; live ones are never touched."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from aerovane.authoring import DAG, BashOperator
from aerovane.authoring.serialization import serialize_dag
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow
from aerovane.executors.base import TaskKey
from aerovane.scheduler.liveness import process_gone, process_started_at, this_host
from aerovane.scheduler.orphans import SCHEDULER_JOB, recover
from aerovane.services.dag_runs import trigger_dag_run

EXECUTOR = "LocalExecutor"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_liveness_of_live_dead_and_reused_pids(sleeper: subprocess.Popen[bytes]) -> None:
    now = utcnow()
    assert process_started_at(sleeper.pid) is not None
    assert not process_gone(sleeper.pid, recorded_at=now)
    assert process_gone(dead_pid(), recorded_at=now)
    # This process started long after an hour ago: a row from then names another process.
    assert process_gone(os.getpid(), recorded_at=now - dt.timedelta(hours=1))
    assert not process_gone(None, recorded_at=now)


@pytest.fixture
def run_id(db: Path) -> str:
    with DAG("orph", schedule=None, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)) as d:
        for task_id in ("dead_running", "live_running", "dead_queued", "live_queued", "mine"):
            BashOperator(task_id=task_id, bash_command="true", retries=1)
        BashOperator(task_id="dead_no_retry", bash_command="true")
    with create_session() as session:
        store_parse_result("/dags/orph.py", [serialize_dag(d)], None, session=session)
        return trigger_dag_run("orph", session=session).run_id


def add_job(session: object, *, pid: int, hostname: str) -> int:
    job = models.Job(
        job_type=SCHEDULER_JOB,
        hostname=hostname,
        unixname="u",
        pid=pid,
        executor_class=EXECUTOR,
        start_date=utcnow(),
        latest_heartbeat=utcnow(),  # fresh: only the dead pid says it is gone
    )
    session.add(job)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    return job.id


def test_recover_resets_and_fails_only_what_is_dead(
    run_id: str, sleeper: subprocess.Popen[bytes]
) -> None:
    host = this_host()
    now = utcnow()
    with create_session() as session:
        dead_job = add_job(session, pid=dead_pid(), hostname=host)
        live_job = add_job(session, pid=sleeper.pid, hostname=host)
        own_job = add_job(session, pid=os.getpid(), hostname=host)
        tis = {
            ti.task_id: ti
            for ti in session.scalars(
                select(models.TaskInstance).where(models.TaskInstance.run_id == run_id)
            )
        }
        running = {
            "dead_running": (dead_pid(), dead_job),
            "dead_no_retry": (dead_pid(), live_job),
            "live_running": (sleeper.pid, dead_job),
            "mine": (dead_pid(), own_job),
        }
        for task_id, (pid, job_id) in running.items():
            tis[task_id].state = "running"
            tis[task_id].pid = pid
            tis[task_id].hostname = host
            tis[task_id].start_date = now
            tis[task_id].last_heartbeat_at = now
            tis[task_id].queued_by_job_id = job_id
        for task_id, job_id in (("dead_queued", dead_job), ("live_queued", live_job)):
            tis[task_id].state = "queued"
            tis[task_id].executor = EXECUTOR
            tis[task_id].queued_by_job_id = job_id
        for ti in tis.values():
            ti.try_number = 1
            ti.executor = EXECUTOR

    mine = TaskKey("orph", "mine", run_id, -1, 1)
    with create_session() as session:
        result = recover(
            own_job_id=own_job, executor_name=EXECUTOR, running_here={mine}, session=session
        )
    assert result.dead_jobs == [dead_job]
    assert (result.requeued, result.failed) == (1, 2)

    with create_session(readonly=True) as session:
        after = {
            ti.task_id: (ti.state, ti.try_number)
            for ti in session.scalars(
                select(models.TaskInstance).where(models.TaskInstance.run_id == run_id)
            )
        }
        jobs = dict(session.execute(select(models.Job.id, models.Job.state)).all())
    assert after == {
        "dead_running": ("up_for_retry", 1),
        "dead_no_retry": ("failed", 1),
        "live_running": ("running", 1),  # its process still runs: never started twice
        "dead_queued": ("scheduled", 0),
        "live_queued": ("queued", 1),
        "mine": ("running", 1),  # this scheduler's executor reports its exit itself
    }
    assert jobs == {dead_job: "failed", live_job: "running", own_job: "running"}


def test_other_hosts_wait_for_heartbeats(run_id: str) -> None:
    """Another host's processes cannot be seen: its scheduler is dead once its heartbeat is
    stale, and its running attempts are failed only once their own heartbeat is stale too."""
    now = utcnow()
    stale = now - dt.timedelta(minutes=5)
    with create_session() as session:
        gone = add_job(session, pid=1, hostname="elsewhere")
        session.get(models.Job, gone).latest_heartbeat = stale  # type: ignore[union-attr]
        fresh = add_job(session, pid=1, hostname="elsewhere-too")
        rows = {
            ti.task_id: ti
            for ti in session.scalars(
                select(models.TaskInstance).where(models.TaskInstance.run_id == run_id)
            )
        }
        plan = {
            "dead_running": ("running", gone, stale),
            "live_running": ("running", gone, now),  # its task still heartbeats
            "mine": ("running", fresh, stale),  # a live scheduler watches it
            "dead_queued": ("queued", gone, None),
            "live_queued": ("queued", fresh, None),
        }
        for task_id, (state, job_id, beat) in plan.items():
            ti = rows[task_id]
            ti.state, ti.queued_by_job_id, ti.last_heartbeat_at = state, job_id, beat
            ti.hostname, ti.pid, ti.start_date = "elsewhere", 1, stale
            ti.try_number, ti.executor = 1, EXECUTOR
    with create_session() as session:
        result = recover(
            own_job_id=None, executor_name=EXECUTOR, running_here=set(), session=session
        )
    assert result.dead_jobs == [gone]
    with create_session(readonly=True) as session:
        after = {
            ti.task_id: ti.state
            for ti in session.scalars(
                select(models.TaskInstance).where(models.TaskInstance.run_id == run_id)
            )
        }
    assert after == {
        "dead_running": "up_for_retry",
        "live_running": "running",
        "mine": "running",
        "dead_queued": "scheduled",
        "live_queued": "queued",
        "dead_no_retry": None,
    }


def test_a_queued_resume_of_a_dead_scheduler_keeps_its_try(run_id: str) -> None:
    """A deferred attempt whose trigger fired is queued as the same try (its number was not
    counted again): re-queued after its scheduler died, it keeps that try, where a new try
    gives its number back. Found by the fault suite: the resume ran as try 0."""
    with create_session() as session:
        dead_job = add_job(session, pid=dead_pid(), hostname=this_host())
        rows = {
            ti.task_id: ti
            for ti in session.scalars(
                select(models.TaskInstance).where(models.TaskInstance.run_id == run_id)
            )
        }
        for task_id, next_method in (("dead_queued", "resume"), ("live_queued", None)):
            ti = rows[task_id]
            ti.state, ti.queued_by_job_id, ti.executor = "queued", dead_job, EXECUTOR
            ti.try_number, ti.next_method = 1, next_method
    with create_session() as session:
        result = recover(
            own_job_id=None, executor_name=EXECUTOR, running_here=set(), session=session
        )
    assert result.requeued == 2
    with create_session(readonly=True) as session:
        after = {
            ti.task_id: (ti.state, ti.try_number, ti.next_method)
            for ti in session.scalars(
                select(models.TaskInstance).where(
                    models.TaskInstance.run_id == run_id,
                    models.TaskInstance.task_id.in_(("dead_queued", "live_queued")),
                )
            )
        }
    assert after == {
        "dead_queued": ("scheduled", 1, "resume"),  # the same try resumes
        "live_queued": ("scheduled", 0, None),  # the new try is counted again when queued
    }


def test_own_queued_attempts_the_executor_holds_are_not_reset(run_id: str) -> None:
    """An executor of other hosts' processes (Celery) vouches for no process, but an own queued
    attempt it sent is waiting for a worker, not lost. Found by the fault suite: two Celery
    schedulers reset every attempt still queued at each orphan check, so a backlog was sent
    again and again and never ran."""
    with create_session() as session:
        own_job = add_job(session, pid=os.getpid(), hostname=this_host())
        rows = {
            ti.task_id: ti
            for ti in session.scalars(
                select(models.TaskInstance).where(models.TaskInstance.run_id == run_id)
            )
        }
        for task_id in ("dead_queued", "live_queued"):
            ti = rows[task_id]
            ti.state, ti.queued_by_job_id, ti.executor = "queued", own_job, EXECUTOR
            ti.try_number = 1
    sent = TaskKey("orph", "live_queued", run_id, -1, 1)
    with create_session() as session:
        result = recover(
            own_job_id=own_job,
            executor_name=EXECUTOR,
            running_here=set(),
            handed_over={sent},
            session=session,
        )
    assert result.requeued == 1
    with create_session(readonly=True) as session:
        after = {
            ti.task_id: (ti.state, ti.try_number)
            for ti in session.scalars(
                select(models.TaskInstance).where(
                    models.TaskInstance.run_id == run_id,
                    models.TaskInstance.task_id.in_(("dead_queued", "live_queued")),
                )
            )
        }
    assert after == {"dead_queued": ("scheduled", 0), "live_queued": ("queued", 1)}
