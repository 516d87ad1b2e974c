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
    update_ti("waits", "r1", "deferring", state="running", try_number=1, start_date=D1)
    update_ti("waits", "r1", "done", state="success", try_number=1, start_date=D1)
    _defer("waits", "r1", "deferring")


def _defer(dag_id: str, run_id: str, task_id: str) -> None:
    """Defer a running task instance as the task runtime does, and let a triggerer claim it."""
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.services import triggers

    ti = models.TaskInstance
    with create_session() as session:
        assert triggers.defer_task_instance(
            [ti.dag_id == dag_id, ti.run_id == run_id, ti.task_id == task_id],
            classpath="aerovane.authoring.triggers.temporal.DateTimeTrigger",
            trigger_kwargs={"moment": D1, "password": "hunter2"},
            next_method="execute_complete",
            next_kwargs=None,
            timeout_at=None,
            values={},
            session=session,
        )
        job = models.Job(job_type=triggers.TRIGGERER_JOB, hostname="trig-host", unixname="av")
        session.add(job)
        session.flush()
        assert triggers.assign_unassigned(job.id, capacity=10, alive=[], session=session) == 1


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


def test_deferred_task_instance_shows_its_trigger_and_triggerer(
    client: httpx.Client, admin: httpx.BasicAuth, waiting: None
) -> None:
    base = "/dags/waits/dagRuns/r1/taskInstances"
    listed = client.get(base, auth=admin).json()["task_instances"]
    by_id = {t["task_id"]: t for t in listed}
    assert by_id["sensor"]["trigger"] is None and by_id["sensor"]["triggerer_job"] is None
    one = client.get(f"{base}/deferring", auth=admin).json()
    batch = client.post(
        "/dags/~/dagRuns/~/taskInstances/list", json={"state": ["deferred"]}, auth=admin
    ).json()["task_instances"]
    for shown in (by_id["deferring"], one, batch[0]):
        trigger, job = shown["trigger"], shown["triggerer_job"]
        assert trigger["classpath"] == "aerovane.authoring.triggers.temporal.DateTimeTrigger"
        # As Airflow prints it: the kwargs dict's text; a secret-named value masked.
        assert trigger["kwargs"] == f"{{'moment': {D1!r}, 'password': '***'}}"
        assert trigger["triggerer_id"] == job["id"] and trigger["created_date"]
        assert job["job_type"] == "TriggererJob" and job["hostname"] == "trig-host"
        assert job["state"] == "running" and job["latest_heartbeat"] and job["dag_id"] is None
        assert set(job) == {
            "id", "dag_id", "state", "job_type", "start_date", "end_date", "latest_heartbeat",
            "executor_class", "hostname", "unixname",
        }  # fmt: skip
