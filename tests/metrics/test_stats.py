"""`Stats`: what reaches a real StatsD socket (Airflow's names, prefix, kinds) and Prometheus
(the catalogue's names and labels), and Airflow's allow/block lists applied to both."""

from __future__ import annotations

import datetime as dt
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from aerovane.config import reload_settings
from aerovane.metrics import Stats
from aerovane.metrics.stats import NameFilter

#: How long a datagram sent on loopback may take to arrive on a loaded machine.
RECEIVE_BUDGET = 120.0


@pytest.fixture
def statsd(
    aerovane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[socket.socket, pytest.MonkeyPatch]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(RECEIVE_BUDGET)
    monkeypatch.setenv("AEROVANE__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AEROVANE__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AEROVANE__METRICS__STATSD_PORT", str(sock.getsockname()[1]))
    reload_settings()
    try:
        yield sock, monkeypatch
    finally:
        sock.close()
        monkeypatch.undo()
        reload_settings()


def _lines_until(sock: socket.socket, last: str) -> list[str]:
    """Datagrams in arrival order up to the one starting with `last` (a sentinel sent after
    what is checked: loopback UDP keeps the order, so nothing sent before it is still out)."""
    lines: list[str] = []
    while True:
        line = sock.recv(65535).decode()
        lines.append(line)
        if line.startswith(last):
            return lines


def _sample(name: str, **labels: str) -> float | None:
    text = generate_latest().decode()
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{re.escape(name)}{re.escape('{' + inner + '}') if inner else ''} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_airflow_names_reach_statsd_and_prometheus(statsd: tuple[socket.socket, object]) -> None:
    sock, _ = statsd
    dag = f"d_{uuid.uuid4().hex[:8]}"
    Stats.incr("ti.finish", tags={"dag_id": dag, "task_id": "t", "state": "success"})
    Stats.timing(
        "dagrun.duration", dt.timedelta(seconds=2), tags={"dag_id": dag, "state": "failed"}
    )
    Stats.gauge("pool.open_slots", 7, tags={"pool_name": dag})
    with Stats.timer("scheduler.scheduler_loop_duration"):
        pass
    Stats.incr("scheduler_heartbeat", 1, 1)
    lines = _lines_until(sock, "airflow.scheduler_heartbeat:")
    assert lines[:4] == [
        f"airflow.ti.finish.{dag}.t.success:1|c",
        "airflow.ti.finish:1|c",
        f"airflow.dagrun.duration.failed.{dag}:2000.000000|ms",
        "airflow.dagrun.duration.failed:2000.000000|ms",
    ]
    assert lines[4] == f"airflow.pool.open_slots.{dag}:7|g"
    assert re.fullmatch(r"airflow\.scheduler\.scheduler_loop_duration:[0-9.]+\|ms", lines[5])
    assert lines[6:] == ["airflow.scheduler_heartbeat:1|c"]

    labels = {"dag_id": dag, "task_id": "t", "state": "success"}
    assert _sample("airflow_ti_finish_total", **labels) == 1.0
    assert _sample("airflow_dagrun_duration_seconds_sum", dag_id=dag, state="failed") == 2.0
    assert _sample("airflow_pool_open_slots", pool_name=dag) == 7.0


def test_allow_list_keeps_only_its_prefixes(statsd: tuple[socket.socket, object]) -> None:
    sock, monkeypatch = statsd
    monkeypatch.setenv("AEROVANE__METRICS__METRICS_ALLOW_LIST", "scheduler,Pool.Open")  # type: ignore[attr-defined]
    monkeypatch.setenv("AEROVANE__METRICS__METRICS_BLOCK_LIST", "scheduler")  # type: ignore[attr-defined]
    reload_settings()
    dag = f"d_{uuid.uuid4().hex[:8]}"
    Stats.incr("ti.finish", tags={"dag_id": dag, "task_id": "t", "state": "failed"})
    Stats.gauge("pool.queued_slots", 3, tags={"pool_name": dag})
    Stats.gauge("pool.open_slots", 4, tags={"pool_name": dag})
    Stats.incr("scheduler_heartbeat")  # allowed: the block list is ignored beside an allow list
    lines = _lines_until(sock, "airflow.scheduler_heartbeat:")
    assert lines == [f"airflow.pool.open_slots.{dag}:4|g", "airflow.scheduler_heartbeat:1|c"]
    assert _sample("airflow_ti_finish_total", dag_id=dag, task_id="t", state="failed") is None
    assert _sample("airflow_pool_queued_slots", pool_name=dag) is None
    assert _sample("airflow_pool_open_slots", pool_name=dag) == 4.0


def test_block_list_drops_its_prefixes(statsd: tuple[socket.socket, object]) -> None:
    sock, monkeypatch = statsd
    monkeypatch.setenv("AEROVANE__METRICS__METRICS_BLOCK_LIST", "ti.,pool.queued")  # type: ignore[attr-defined]
    reload_settings()
    dag = f"d_{uuid.uuid4().hex[:8]}"
    Stats.incr("ti.finish", tags={"dag_id": dag, "task_id": "t", "state": "failed"})
    Stats.gauge("pool.queued_slots", 3, tags={"pool_name": dag})
    Stats.incr("ti_failures")  # "ti." does not block "ti_failures"
    lines = _lines_until(sock, "airflow.ti_failures:")
    assert lines == ["airflow.ti_failures:1|c"]
    assert _sample("airflow_ti_finish_total", dag_id=dag, task_id="t", state="failed") is None


def test_pattern_match_finds_anywhere_in_the_name() -> None:
    allow = NameFilter("heartbeat$,^executor", "", pattern=True)
    assert allow.test("scheduler_heartbeat") and allow.test("executor.open_slots")
    assert not allow.test("dagrun.duration.success.x")
    block = NameFilter("", "duration", pattern=True)
    assert not block.test("dagrun.duration.success.x") and block.test("ti_failures")
    prefix = NameFilter("", "duration", pattern=False)
    assert prefix.test("dagrun.duration.success.x")
    broken = NameFilter("", "sched(", pattern=True)  # not a regex: matched as a prefix
    assert not broken.test("sched(uler") and broken.test("scheduler_heartbeat")


def test_without_statsd_prometheus_still_records(aerovane_home: Path) -> None:
    dag = f"d_{uuid.uuid4().hex[:8]}"
    Stats.incr("ti.finish", tags={"dag_id": dag, "task_id": "t", "state": "skipped"})
    Stats.incr("ti.finish", tags={"dag_id": dag, "task_id": "t", "state": "skipped"})
    assert _sample("airflow_ti_finish_total", dag_id=dag, task_id="t", state="skipped") == 2.0


def test_a_delta_gauge_moves_both_outputs(statsd: tuple[socket.socket, object]) -> None:
    sock, _ = statsd
    before = _sample("aerovane_celery_worker_running_tasks") or 0.0
    Stats.gauge("celery.worker.running_tasks", 1, delta=True)
    Stats.gauge("celery.worker.running_tasks", 1, delta=True)
    Stats.gauge("celery.worker.running_tasks", -1, delta=True)
    lines = _lines_until(sock, "airflow.celery.worker.running_tasks:-1")
    assert lines == ["airflow.celery.worker.running_tasks:+1|g"] * 2 + [
        "airflow.celery.worker.running_tasks:-1|g"
    ]
    assert _sample("aerovane_celery_worker_running_tasks") == before + 1


def test_a_name_statsd_cannot_carry_is_not_sent(statsd: tuple[socket.socket, object]) -> None:
    sock, _ = statsd
    pool = f"p {uuid.uuid4().hex[:6]}:1|c"
    Stats.gauge("pool.open_slots", 5, tags={"pool_name": pool})
    Stats.incr("ti_failures")
    assert _lines_until(sock, "airflow.ti_failures:") == ["airflow.ti_failures:1|c"]
    assert re.search(
        rf'^airflow_pool_open_slots\{{pool_name="{re.escape(pool)}"\}} 5\.0$',
        generate_latest().decode(),
        re.MULTILINE,
    )
