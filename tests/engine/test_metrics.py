"""Metrics of a real `aerovane scheduler` process after a real DAG run: Airflow's StatsD lines
on a real UDP socket (with a block list applied) and the scheduler's own `/metrics` server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.engine.conftest import Engine, wait_for
from tests.standalone_server import free_port

DAG_FILES = {
    "metrics_dag.py": """
        import datetime as dt
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("metrics_dag", schedule=None, start_date=dt.datetime(2024, 1, 1)):
            BashOperator(task_id="ok", bash_command="true") >> BashOperator(
                task_id="bad", bash_command="exit 3", retries=0
            )
    """,
}


@pytest.fixture(scope="module")
def statsd_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def engine_env(statsd_socket: socket.socket, metrics_port: int) -> dict[str, str]:
    return {
        "AEROVANE__METRICS__STATSD_ON": "True",
        "AEROVANE__METRICS__STATSD_HOST": "127.0.0.1",
        "AEROVANE__METRICS__STATSD_PORT": str(statsd_socket.getsockname()[1]),
        "AEROVANE__METRICS__METRICS_BLOCK_LIST": "dagbag_size",
        "AEROVANE__METRICS__SCHEDULER_PROMETHEUS_PORT": str(metrics_port),
        "AEROVANE__SCHEDULER__POOL_METRICS_INTERVAL": "0.5",
    }


def _drain(sock: socket.socket, into: list[str]) -> list[str]:
    while True:
        try:
            into.append(sock.recv(65535).decode())
        except BlockingIOError:
            return into


def test_a_dag_run_is_reported_with_airflows_names(
    engine: Engine, statsd_socket: socket.socket, metrics_port: int
) -> None:
    engine.wait_dag("metrics_dag")
    run_id = engine.trigger("metrics_dag")
    assert engine.wait_run("metrics_dag", run_id) == "failed"

    wanted = [
        "airflow.ti.finish.metrics_dag.ok.success:1|c",
        "airflow.ti.finish.metrics_dag.bad.failed:1|c",
        "airflow.ti_successes:1|c",
        "airflow.ti_failures:1|c",
        "airflow.scheduler_heartbeat:1|c",
        "airflow.pool.open_slots.default_pool:128|g",
    ]
    lines: list[str] = []

    def arrived() -> bool:
        _drain(statsd_socket, lines)
        return all(w in lines for w in wanted) and any(
            line.startswith("airflow.dag_processing.import_errors:") for line in lines
        )

    wait_for(arrived, 120, "the run's StatsD lines")
    assert any(
        re.fullmatch(r"airflow\.dagrun\.duration\.failed\.metrics_dag:[0-9.]+\|ms", x)
        for x in lines
    )
    assert any(
        re.fullmatch(r"airflow\.scheduler\.scheduler_loop_duration:[0-9.]+\|ms", x) for x in lines
    )
    assert any(re.fullmatch(r"airflow\.executor\.open_slots:\d+\|g", x) for x in lines)
    # The DAG processor sends dagbag_size between these two; the block list held it back.
    assert any(line.startswith("airflow.dag_processing.total_parse_time:") for line in lines)
    assert not any(line.startswith("airflow.dagbag_size") for line in lines)

    url = f"http://127.0.0.1:{metrics_port}/metrics"
    text = httpx.get(url).text
    assert 'airflow_ti_finish_total{dag_id="metrics_dag",state="success",task_id="ok"} 1.0' in text
    assert 'airflow_ti_finish_total{dag_id="metrics_dag",state="failed",task_id="bad"} 1.0' in text
    assert 'airflow_dagrun_duration_seconds_count{dag_id="metrics_dag",state="failed"} 1.0' in text
    assert 'airflow_pool_open_slots{pool_name="default_pool"}' in text
    for name in (
        "airflow_scheduler_loop_duration_seconds_count",
        "airflow_executor_open_slots",
        "airflow_executor_queued_tasks",
        "airflow_executor_running_tasks",
        "airflow_scheduler_heartbeat_total",
        "airflow_dag_processing_total_parse_time_seconds",
    ):
        assert re.search(rf"^{name} [0-9.e+]+$", text, re.MULTILINE), name
    assert "airflow_dagbag_size" not in text  # blocked for Prometheus too
