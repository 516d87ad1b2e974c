"""`.../taskInstances`: one run's task instances, `~` wildcards, filters, client-safe shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from aerovane.api.v1.datamodels.task_instances import TaskInstanceCollectionResponse
from tests.api.conftest import add_dag, add_run, count_queries, update_ti
from tests.api.test_errors import assert_problem

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 2, tzinfo=UTC)


@pytest.fixture
def tis(accounts: Any) -> None:
    add_dag("etl", task_ids=("extract", "transform", "load"))
    add_dag("other", task_ids=("only",))
    add_run("etl", "run_1", logical_date=D1)
    add_run("etl", "run_2", logical_date=D2)
    add_run("other", "run_o", logical_date=D1)
    update_ti(
        "etl",
        "run_1",
        "extract",
        state="success",
        try_number=1,
        start_date=D1,
        end_date=D1 + dt.timedelta(seconds=30),
        duration=30.0,
        hostname="worker-1",
        unixname="aerovane",
        pid=4242,
        queued_dttm=D1,
        executor="LocalExecutor",
        executor_config={"cpu": 1},
    )
    update_ti(
        "etl",
        "run_1",
        "transform",
        state="failed",
        try_number=2,
        duration=5.5,
        pool="small_pool",
        queue="fast",
        start_date=D1 + dt.timedelta(minutes=1),
    )
    update_ti("etl", "run_2", "extract", state="running", try_number=1, start_date=D2)


def _keys(response: httpx.Response) -> list[tuple[str, str, str]]:
    assert response.status_code == 200, response.text
    return [(t["dag_id"], t["dag_run_id"], t["task_id"]) for t in response.json()["task_instances"]]


def test_list_run_task_instances(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    response = client.get("/dags/etl/dagRuns/run_1/taskInstances", auth=admin)
    body = TaskInstanceCollectionResponse.model_validate(response.json())
    assert body.total_entries == 3
    by_task = {t["task_id"]: t for t in response.json()["task_instances"]}
    assert set(by_task) == {"extract", "transform", "load"}
    extract = by_task["extract"]
    assert extract["execution_date"] == "2024-03-01T00:00:00+00:00"
    assert extract["state"] == "success"
    assert extract["duration"] == 30.0
    assert extract["hostname"] == "worker-1"
    assert extract["pid"] == 4242
    assert extract["queued_when"] == "2024-03-01T00:00:00+00:00"
    assert extract["executor_config"] == "{'cpu': 1}"
    assert extract["map_index"] == -1
    assert extract["task_display_name"] == "extract"
    assert extract["operator"] == "EmptyOperator"
    load = by_task["load"]
    # Never null where the official client insists on a value.
    assert load["state"] is None
    assert load["hostname"] == "" and load["unixname"] == ""
    assert load["executor_config"] == "{}"
    assert load["pool"] == "default_pool"
    assert load["rendered_fields"] == {}
    assert load["try_number"] == 0


def test_wildcards(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    response = client.get("/dags/etl/dagRuns/~/taskInstances", auth=admin)
    assert response.json()["total_entries"] == 6
    response = client.get("/dags/~/dagRuns/~/taskInstances", auth=admin)
    assert response.json()["total_entries"] == 7
    assert _keys(client.get("/dags/~/dagRuns/run_o/taskInstances", auth=admin)) == [
        ("other", "run_o", "only")
    ]
    assert client.get("/dags/etl/dagRuns/nope/taskInstances", auth=admin).json() == {
        "task_instances": [],
        "total_entries": 0,
    }


def test_filters(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    def tasks(url: str = "/dags/etl/dagRuns/~/taskInstances", **params: Any) -> list[str]:
        return [f"{r}.{t}" for _, r, t in _keys(client.get(url, params=params, auth=admin))]

    assert tasks(state="success") == ["run_1.extract"]
    assert tasks(state=["success", "failed"]) == ["run_1.extract", "run_1.transform"]
    assert tasks(state="none") == ["run_1.load", "run_2.load", "run_2.transform"]
    assert tasks(state=["none", "running"]) == [
        "run_1.load",
        "run_2.extract",
        "run_2.load",
        "run_2.transform",
    ]
    assert tasks(pool="small_pool") == ["run_1.transform"]
    assert tasks(queue="fast") == ["run_1.transform"]
    assert tasks(executor="LocalExecutor") == ["run_1.extract"]
    assert tasks(duration_gte=10) == ["run_1.extract"]
    assert tasks(duration_lte=10) == ["run_1.transform"]
    assert tasks(execution_date_gte="2024-03-02T00:00:00Z", state="running") == ["run_2.extract"]
    assert tasks(execution_date_lte="2024-03-01T00:00:00Z", state="success") == ["run_1.extract"]
    assert tasks(start_date_gte="2024-03-01T00:00:30Z", start_date_lte="2024-03-01T12:00:00Z") == [
        "run_1.transform"
    ]
    assert tasks(end_date_lte="2024-03-01T00:01:00Z") == ["run_1.extract"]
    assert tasks(end_date_gte="2024-03-01T00:01:00Z") == []
    assert len(tasks(updated_at_gte="2000-01-01T00:00:00Z")) == 6
    assert tasks(updated_at_lte="2000-01-01T00:00:00Z") == []


def test_bad_parameters(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    url = "/dags/etl/dagRuns/run_1/taskInstances"
    assert_problem(client.get(url, params={"duration_gte": "long"}, auth=admin), 400)
    assert_problem(
        client.get(url, params={"end_date_gte": "x"}, auth=admin),
        400,
        title="Incorrect datetime argument",
    )
    assert_problem(client.get(url, params={"order_by": "task_id"}, auth=admin), 400)
    assert_problem(client.get(url, params={"limit": -5}, auth=admin), 400)


def test_paging(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    url = "/dags/~/dagRuns/~/taskInstances"
    first = client.get(url, params={"limit": 4}, auth=admin).json()
    second = client.get(url, params={"limit": 4, "offset": 4}, auth=admin).json()
    assert first["total_entries"] == second["total_entries"] == 7
    seen = [(t["dag_run_id"], t["task_id"]) for t in first["task_instances"]]
    seen += [(t["dag_run_id"], t["task_id"]) for t in second["task_instances"]]
    assert len(set(seen)) == 7


def test_query_count_does_not_grow(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    add_dag("wide", task_ids=tuple(f"t{i}" for i in range(3)))
    add_run("wide", "r1", logical_date=D1)
    with count_queries() as few:
        client.get("/dags/wide/dagRuns/r1/taskInstances", auth=admin)
    add_dag("wider", task_ids=tuple(f"t{i:02d}" for i in range(40)))
    add_run("wider", "r1", logical_date=D1)
    with count_queries() as many:
        response = client.get("/dags/wider/dagRuns/r1/taskInstances", auth=admin)
    assert response.json()["total_entries"] == 40
    assert len(many) == len(few), many
