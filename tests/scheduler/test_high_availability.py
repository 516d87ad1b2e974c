"""Several schedulers on one metadata database (issue 12): on PostgreSQL two real `aerovane
scheduler` processes share the work exactly once within pool and run limits, wake-ups reach
schedulers of other hosts through LISTEN/NOTIFY, and a SIGKILLed scheduler plus severed database
connections lose and duplicate nothing; on SQLite a second scheduler is refused with one line.
A SIGTERMed scheduler lets its running tasks finish (both databases)."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from benchmarks._crash import (
    account,
    all_final,
    kill_tree,
    mid_run,
    run_states,
    side_effect_dag,
    start_tree,
    stop_tree,
    trigger_runs,
    wait_dag,
    wait_for,
)
from sqlalchemy import select, text

from tests.conftest import PG_URL, subprocess_home

pg_only = pytest.mark.skipif(not PG_URL, reason="several schedulers need PostgreSQL")
sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite's one-scheduler rule")
#: Tests that start several Aerovane processes: each wait is bounded on its own (120 s), and
#: together they may take longer than the suite's per-test limit on a busy machine.
several_processes = pytest.mark.timeout(400)

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"


@dataclass
class Rig:
    home: Path
    out: Path
    env: dict[str, str]

    @property
    def log(self) -> Path:
        return self.home / "scheduler.log"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    home = tmp_path / "home"
    out = tmp_path / "side-effects"
    out.mkdir()
    with subprocess_home(home, {"AEROVANE__CORE__PARALLELISM": "4"}) as env:
        yield Rig(home=home, out=out, env=env)


def _write_dag(rig: Rig, name: str, source: str) -> None:
    from aerovane.config import get_settings

    (get_settings().dags_folder / name).write_text(textwrap.dedent(source))


def _fill(template: str, **values: str) -> str:
    for name, value in {"START": START, **values}.items():
        template = template.replace(f"__{name}__", value)
    return template


def _jobs_queued_by(dag_id: str) -> set[int]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    ti = models.TaskInstance
    with create_session(readonly=True) as session:
        return set(
            session.scalars(select(ti.queued_by_job_id).where(ti.dag_id == dag_id).distinct()).all()
        ) - {None}


# -- SQLite: one scheduler ------------------------------------------------------------------------


@sqlite_only
@several_processes
def test_a_second_scheduler_on_sqlite_is_refused_with_one_line(rig: Rig) -> None:
    from aerovane.executors.local import LocalExecutor
    from aerovane.executors.zygote import ProcessFactory
    from aerovane.scheduler.job import Scheduler, SchedulerAlreadyRunning
    from aerovane.scheduler.wakeup import Wakeup

    factory = ProcessFactory()
    first = Scheduler(LocalExecutor(parallelism=1, factory=factory), wakeup=Wakeup())
    second = Scheduler(LocalExecutor(parallelism=1, factory=factory), wakeup=Wakeup())
    try:
        first.register()  # this process is alive: its job is a running scheduler
        with pytest.raises(SchedulerAlreadyRunning):
            second.register()
        # The first job never heartbeats here: however long this start takes on a busy
        # machine, it must not look dead (stale) to the second.
        cli = subprocess.run(
            [sys.executable, "-m", "aerovane", "scheduler"],
            env={**rig.env, "AEROVANE__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "3600"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        first.wakeup.close()
        second.wakeup.close()
    assert cli.returncode == 1
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1, cli.stderr
    assert "a scheduler is already running on this SQLite database" in lines[0]
    assert f"job {first.job_id}" in lines[0]


# -- PostgreSQL: wake-ups from other hosts --------------------------------------------------------


@pg_only
def test_a_wakeup_reaches_a_scheduler_of_another_home_and_survives_a_severed_connection(
    rig: Rig, tmp_path: Path
) -> None:
    """A process with another `AEROVANE_HOME` (no shared socket directory: another host, for
    the scheduler) wakes it through NOTIFY; after its LISTEN connection is terminated, the
    wake-up reconnects and is reached again."""
    from aerovane.db.engine import get_engine
    from aerovane.scheduler.wakeup import Wakeup

    other_home = dict(rig.env, AEROVANE_HOME=str(tmp_path / "other-host"))
    poke = [sys.executable, "-c", "import aerovane.scheduler.wakeup as w; w.notify_schedulers()"]
    wakeup = Wakeup()
    try:
        assert wakeup.listening
        wakeup.wait(0)
        wakeup.take_changed()
        subprocess.run(poke, env=other_home, check=True, timeout=120)
        assert wakeup.wait(60) is True
        assert wakeup.take_changed() is True

        backend = wakeup._listener._conn.info.backend_pid  # type: ignore[union-attr]
        with get_engine().connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        wait_for(
            lambda: (
                (wakeup.wait(1), wakeup.listening)[1]
                and wakeup._listener._conn.info.backend_pid != backend
            ),  # type: ignore[union-attr]
            60,
            "the wake-up to listen again",
        )
        wakeup.wait(0)
        wakeup.take_changed()
        subprocess.run(poke, env=other_home, check=True, timeout=120)
        assert wakeup.wait(60) is True
    finally:
        wakeup.close()


# -- PostgreSQL: two schedulers -------------------------------------------------------------------

LIMITED = """
    import datetime, os, time, uuid
    from aerovane.authoring import DAG, PythonOperator

    OUT = __OUT__

    def work(ti):
        # Count the attempts inside the pool at once: a marker file while this one runs.
        marker = os.path.join(OUT, "inside", uuid.uuid4().hex)
        open(marker, "w").close()
        seen = len(os.listdir(os.path.join(OUT, "inside")))
        with open(os.path.join(OUT, "seen"), "a") as fh:
            fh.write(f"{seen}\\n")
        time.sleep(0.3)
        os.unlink(marker)

    with DAG("limited", schedule=None, start_date=__START__, is_paused_upon_creation=False,
             max_active_runs=1, max_active_tasks=64):
        for i in range(4):
            PythonOperator(task_id=f"t{i}", python_callable=work, pool="two")
"""


@pg_only
@several_processes
def test_two_schedulers_run_every_task_once_within_pool_and_run_limits(rig: Rig) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    limits = rig.out.parent / "limits"
    (limits / "inside").mkdir(parents=True)
    _write_dag(rig, "crash.py", side_effect_dag("crash", rig.out, seconds=0.5))
    _write_dag(rig, "limited.py", _fill(LIMITED, OUT=repr(str(limits))))
    with create_session() as session:
        session.add(models.Pool(pool="two", slots=2, description="", include_deferred=False))
    first = start_tree(["scheduler"], rig.env, rig.log)
    second = start_tree(["scheduler", "--no-dag-processor"], rig.env, rig.log)
    try:
        wait_dag("crash", timeout=120)
        wait_dag("limited", timeout=120)
        trigger_runs("crash", 8)
        trigger_runs("limited", 3)
        wait_for(lambda: all_final("crash", 8), 120, "every crash run to finish")
        wait_for(lambda: all_final("limited", 3), 120, "every limited run to finish")
        result = account("crash", rig.out)
        with create_session(readonly=True) as session:
            runs = session.execute(
                select(models.DagRun.start_date, models.DagRun.end_date)
                .where(models.DagRun.dag_id == "limited")
                .order_by(models.DagRun.start_date)
            ).all()
    finally:
        stop_tree(second)
        stop_tree(first)
    assert (first.returncode, second.returncode) == (0, 0)
    assert run_states("crash") == {"success": 8}
    assert run_states("limited") == {"success": 3}
    assert (result.duplicated, result.lost, result.retried, result.unfinished) == (0, 0, 0, 0)
    assert result.executions == 8 * 5
    # Each scheduler had 4 slots and the 40 tasks take 0.5 s each: both took a share.
    assert len(_jobs_queued_by("crash")) == 2
    # The pool of 2 slots held across both schedulers; so did max_active_runs=1.
    assert max(int(n) for n in (limits / "seen").read_text().split()) <= 2
    for earlier, later in itertools.pairwise(runs):
        assert later.start_date >= earlier.end_date


@pg_only
@several_processes
def test_sigkill_of_one_of_two_schedulers_and_severed_connections_lose_nothing(rig: Rig) -> None:
    """While runs go on under two schedulers, one scheduler's whole tree is SIGKILLed at a
    random moment, every other connection to the database is terminated
    (`pg_terminate_backend`: the shared server itself is never restarted), and the scheduler
    is started again; twice. Every run ends `success` and, from the tasks' side effects, no
    attempt ran twice and none was lost; an attempt the faults interrupted ran again only as
    its next try."""
    from aerovane.db.engine import get_engine

    runs = 8
    _write_dag(rig, "crash.py", side_effect_dag("crash", rig.out, seconds=0.4, retries=4))
    rng = random.Random()
    trees = [
        start_tree(["scheduler"], rig.env, rig.log),
        start_tree(["scheduler", "--no-dag-processor"], rig.env, rig.log),
    ]
    kills = 0
    try:
        wait_dag("crash", timeout=120)
        trigger_runs("crash", runs)
        for round_ in range(2):
            wait_for(lambda r=round_: mid_run("crash", succeeded=4 + 8 * r), 120, "a moment")
            time.sleep(rng.uniform(0, 0.5))  # a random point of the schedulers' work
            victim = rng.randrange(2)
            kill_tree(trees[victim])
            kills += 1
            with get_engine().connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            command = ["scheduler"] if victim == 0 else ["scheduler", "--no-dag-processor"]
            trees[victim] = start_tree(command, rig.env, rig.log)
            if all_final("crash", runs):
                break
        get_engine().dispose()  # our own pooled connections were severed too
        wait_for(lambda: all_final("crash", runs), 120, "every run to finish after the faults")
        result = account("crash", rig.out)
    finally:
        for tree in trees:
            stop_tree(tree)
    print(f"faults survived: {kills} scheduler kills, {kills} rounds of severed connections")
    assert kills >= 1
    assert run_states("crash") == {"success": runs}
    assert (result.duplicated, result.lost, result.unfinished) == (0, 0, 0)
    assert runs * 5 <= result.executions <= runs * 5 + result.retried * 4


# -- graceful stop ---------------------------------------------------------------------------------

GATED = """
    import datetime, os, time
    from aerovane.authoring import DAG, PythonOperator

    GATE = __GATE__

    def wait_for_gate():
        while not os.path.exists(GATE):
            time.sleep(0.05)

    with DAG("gated", schedule=None, start_date=__START__, is_paused_upon_creation=False):
        first = PythonOperator(task_id="first", python_callable=wait_for_gate)
        first >> PythonOperator(task_id="second", python_callable=lambda: None)
"""


@several_processes
def test_sigterm_lets_the_running_task_finish_and_a_restart_completes_the_run(rig: Rig) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    gate = rig.out / "gate"
    _write_dag(rig, "gated.py", _fill(GATED, GATE=repr(str(gate))))
    patient = dict(rig.env, AEROVANE__SCHEDULER__SHUTDOWN_GRACE_PERIOD="120")
    tree = start_tree(["scheduler"], patient, rig.log)
    try:
        wait_dag("gated", timeout=120)
        (run_id,) = trigger_runs("gated", 1)

        def first_state() -> str | None:
            with create_session(readonly=True) as session:
                ti = session.get(models.TaskInstance, ("gated", "first", run_id, -1))
                return None if ti is None else str(ti.state)

        wait_for(lambda: first_state() == "running", 120, "the first task to run")
        tree.terminate()
        wait_for(
            lambda: "stopping: waiting up to" in rig.log.read_text(), 120, "the scheduler to drain"
        )
        assert tree.poll() is None  # it waits for the task
        gate.touch()
        assert tree.wait(timeout=120) == 0
    finally:
        stop_tree(tree)
    with create_session(readonly=True) as session:
        ti = session.get(models.TaskInstance, ("gated", "first", run_id, -1))
        assert ti is not None and (ti.state, ti.try_number) == ("success", 1)
        job = session.scalars(select(models.Job).where(models.Job.job_type == "SchedulerJob")).one()
        assert job.state == "success"
    again = start_tree(["scheduler"], rig.env, rig.log)
    try:
        wait_for(lambda: all_final("gated", 1), 120, "the run to finish after the restart")
    finally:
        stop_tree(again)
    assert run_states("gated") == {"success": 1}


# -- PostgreSQL: concurrent triggers over two API servers -----------------------------------------


@pg_only
@several_processes
def test_concurrent_duplicate_triggers_over_two_api_servers_make_each_run_once(rig: Rig) -> None:
    """Scaled down from the issue's 1,000 triggers by 50 clients (benchmarks/scale_schedulers.py
    runs that size): 120 triggers by 20 clients over two `aerovane api-server` processes, each
    run id sent twice, its copies to different servers: exactly 60 runs, one 200 and one 409
    per run id, no 5xx."""
    from benchmarks._trigger_storm import (
        STORM_DAG,
        api_servers,
        open_public_role,
        parse_dags,
        stored_runs,
        storm,
    )

    _write_dag(rig, "storm.py", STORM_DAG)
    parse_dags(rig.env, rig.log, "storm")
    open_public_role()
    with api_servers(rig.env, 2, rig.home / "api.log") as urls:
        result = storm(urls, "storm", runs=60, clients=20)
    assert result.statuses == {200: 60, 409: 60}, result.statuses
    assert all(sorted(answers) == [200, 409] for answers in result.by_run.values())
    assert len(result.by_run) == 60
    assert stored_runs("storm") == 60
