"""`up_for_reschedule` and `deferred` task instances through the task-instance endpoints: shown
as such and matched by every state filter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.api.conftest import add_run, update_ti
from tests.api.test_clear_and_set_state import store_dag

D1 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def waiting(accounts: Any) -> None:
    from aerovane.authoring import DAG, EmptyOperator
    from aerovane.authoring.sensors import FileSensor

    with DAG("waits", schedule=None, start_date=D1, auto_register=False) as dag:
        FileSensor(task_id="sensor", filepath="/data/x", mode="reschedule")
        EmptyOperator(task_id="deferring")
        EmptyOperator(task_id="done")
    dag.fileloc = "/opt/dags/waits.py"
    store_dag(dag)
    add_run("waits", "r1", logical_date=D1, state="running")
    update_ti("waits", "r1", "sensor", state="up_for_reschedule", try_number=1, start_date=D1)
    update_ti("waits", "r1", "deferring", state="deferred", try_number=1, start_date=D1)
    update_ti("waits", "r1", "done", state="success", try_number=1, start_date=D1)


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(t["task_id"] for t in response.json()["task_instances"])


def test_waiting_states_are_listed_and_filtered(
    client: httpx.Client, admin: httpx.BasicAuth, waiting: None
) -> None:
    base = "/dags/waits/dagRuns/r1/taskInstances"
    assert _ids(client.get(base, params={"state": "up_for_reschedule"}, auth=admin)) == ["sensor"]
    assert _ids(client.get(base, params={"state": "deferred"}, auth=admin)) == ["deferring"]
    both = {"state": "up_for_reschedule,deferred"}
    assert _ids(client.get("/dags/~/dagRuns/~/taskInstances", params=both, auth=admin)) == [
        "deferring",
        "sensor",
    ]
    batch = client.post(
        "/dags/~/dagRuns/~/taskInstances/list",
        json={"state": ["up_for_reschedule", "deferred"]},
        auth=admin,
    )
    assert _ids(batch) == ["deferring", "sensor"]
    one = client.get(f"{base}/sensor", auth=admin)
    assert one.status_code == 200 and one.json()["state"] == "up_for_reschedule"
    assert client.get(f"{base}/deferring", auth=admin).json()["state"] == "deferred"
