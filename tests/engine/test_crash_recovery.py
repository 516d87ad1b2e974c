"""SIGKILL of the whole process tree mid-run (scheduler, zygote and the task processes), then a
restart at once, while the dead scheduler's heartbeat still looks fresh: every run must reach
its final state, with no task execution lost or run twice (counted from the tasks' side
effects). Without recovery by dead pid the killed attempts stay `running` until the 300 s
zombie threshold and the test times out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from benchmarks._crash import (
    account,
    all_final,
    crash_mid_run,
    reap,
    run_states,
    side_effect_dag,
    start_tree,
    stop_tree,
    trigger_runs,
    wait_dag,
    wait_for,
)

from tests.conftest import subprocess_home

DAG_ID = "crash"
RUNS = 6


@dataclass
class Rig:
    home: Path
    out: Path
    env: dict[str, str]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    from aerovane.config import get_settings

    home = tmp_path / "home"
    out = tmp_path / "side-effects"
    out.mkdir()
    with subprocess_home(home) as env:
        dags = get_settings().dags_folder
        (dags / "crash.py").write_text(side_effect_dag(DAG_ID, out, seconds=1.0))
        yield Rig(home=home, out=out, env=env)


def test_sigkill_of_the_whole_tree_recovers_every_run_exactly_once(rig: Rig) -> None:
    log = rig.home / "scheduler.log"
    first = start_tree(["scheduler"], rig.env, log)
    try:
        wait_dag(DAG_ID, timeout=120)
        trigger_runs(DAG_ID, RUNS)
        left, _ = crash_mid_run(first, DAG_ID, succeeded=2, timeout=120)
    finally:
        stop_tree(first)
    assert first.returncode == -9
    assert "running" in left.values()

    restarted = time.monotonic()
    second = start_tree(["scheduler"], rig.env, log)
    try:
        wait_for(lambda: all_final(DAG_ID, RUNS), 120, "every run to be final after restart")
        took = time.monotonic() - restarted
        print(f"restart -> all {RUNS} runs final: {took:.2f} s; left by the crash: {dict(left)}")
        result = account(DAG_ID, rig.out)
    finally:
        stop_tree(second)
    assert run_states(DAG_ID) == {"success": RUNS}
    assert (result.duplicated, result.lost, result.unfinished) == (0, 0, 0)
    # Only an attempt the crash interrupted ran again as the next try: one the frozen database
    # showed running, or queued with its claim's commit in flight (see `crash_mid_run`).
    interrupted = {key for key, state in left.items() if state in ("queued", "running")}
    assert result.retried_tis <= interrupted
    # Every final attempt ran once; an interrupted one may have been killed before its line.
    assert RUNS * 5 <= result.executions <= RUNS * 5 + result.retried


def test_task_processes_that_survive_the_server_are_not_run_again(rig: Rig) -> None:
    """Only the server and its zygote are killed (the OOM killer's pick); the task processes,
    in sessions of their own, go on. The restarted scheduler must leave their attempts alone:
    they record their own outcomes, and none is retried or run twice."""
    log = rig.home / "scheduler.log"
    first = start_tree(["scheduler"], rig.env, log)
    survivors: set[int] = set()
    try:
        wait_dag(DAG_ID, timeout=120)
        trigger_runs(DAG_ID, RUNS)
        left, survivors = crash_mid_run(
            first, DAG_ID, succeeded=2, timeout=120, task_processes_survive=True
        )
    finally:
        stop_tree(first)
    assert "running" in left.values() and survivors

    second = start_tree(["scheduler"], rig.env, log)
    try:
        wait_for(lambda: all_final(DAG_ID, RUNS), 120, "every run to be final after restart")
        result = account(DAG_ID, rig.out)
    finally:
        stop_tree(second)
        reap(survivors)
    assert run_states(DAG_ID) == {"success": RUNS}
    assert (result.duplicated, result.lost, result.unfinished, result.retried) == (0, 0, 0, 0)
    assert result.executions == RUNS * 5
