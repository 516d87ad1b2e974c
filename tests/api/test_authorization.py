"""Who may call what: the default roles on every endpoint (a matrix), and per-DAG grants
(`DAG:<id>`, `DAG Run:<id>`) including list filtering."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from aerovane.auth.permissions import CREATE, EDIT, READ
from aerovane.services.task_logs import log_path
from tests.api.conftest import add_dag, add_role, add_run, add_user, update_ti

ALL = {"Admin", "Op", "User", "Viewer"}
WRITERS = {"Admin", "Op", "User"}


@pytest.fixture
def world(accounts: Any) -> None:
    add_dag("etl")
    add_dag("secret")
    add_run("etl", "run_1", logical_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    add_run("secret", "run_s", logical_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    update_ti("etl", "run_1", "extract", try_number=1, state="success")
    path = log_path("etl", "run_1", "extract", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("hello\n")


_trigger_count = 0


def _call(client: httpx.Client, endpoint: str, auth: tuple[str, str]) -> httpx.Response:
    global _trigger_count
    if endpoint == "get_dags":
        return client.get("/dags", auth=auth)
    if endpoint == "get_dag":
        return client.get("/dags/etl", auth=auth)
    if endpoint == "patch_dag":
        return client.patch("/dags/etl", json={"is_paused": True}, auth=auth)
    if endpoint == "get_dag_runs":
        return client.get("/dags/etl/dagRuns", auth=auth)
    if endpoint == "get_all_dag_runs":
        return client.get("/dags/~/dagRuns", auth=auth)
    if endpoint == "post_dag_run":
        _trigger_count += 1
        return client.post(
            "/dags/etl/dagRuns", json={"dag_run_id": f"t{_trigger_count}"}, auth=auth
        )
    if endpoint == "get_dag_run":
        return client.get("/dags/etl/dagRuns/run_1", auth=auth)
    if endpoint == "get_task_instances":
        return client.get("/dags/etl/dagRuns/run_1/taskInstances", auth=auth)
    if endpoint == "get_all_task_instances":
        return client.get("/dags/~/dagRuns/~/taskInstances", auth=auth)
    if endpoint == "get_log":
        return client.get(
            "/dags/etl/dagRuns/run_1/taskInstances/extract/logs/1",
            headers={"accept": "application/json"},
            auth=auth,
        )
    if endpoint == "get_health":
        return client.get("/health", auth=auth)
    if endpoint == "get_version":
        return client.get("/version", auth=auth)
    raise AssertionError(endpoint)


MATRIX: dict[str, set[str]] = {
    "get_dags": ALL,
    "get_dag": ALL,
    "patch_dag": WRITERS,
    "get_dag_runs": ALL,
    "get_all_dag_runs": ALL,
    "post_dag_run": WRITERS,
    "get_dag_run": ALL,
    "get_task_instances": ALL,
    "get_all_task_instances": ALL,
    "get_log": ALL,
    "get_health": ALL | {"Public"},
    "get_version": ALL | {"Public"},
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_default_roles(
    client: httpx.Client, accounts: Any, world: None, endpoint: str, role: str
) -> None:
    response = _call(client, endpoint, accounts[role].auth)
    expected = 200 if role in MATRIX[endpoint] else 403
    assert response.status_code == expected, (endpoint, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"


def test_viewer_lists_everything(client: httpx.Client, accounts: Any, world: None) -> None:
    response = client.get("/dags", auth=accounts["Viewer"].auth)
    assert [d["dag_id"] for d in response.json()["dags"]] == ["etl", "secret"]


@pytest.fixture
def etl_reader(world: None) -> tuple[str, str]:
    add_role(
        "EtlReader",
        {
            (READ, "DAG:etl"),
            (READ, "DAG Run:etl"),
            (READ, "Task Instances"),
            (READ, "Task Logs"),
        },
    )
    return add_user("etl_reader", ["EtlReader"]).auth


def test_per_dag_read(client: httpx.Client, etl_reader: tuple[str, str]) -> None:
    response = client.get("/dags", auth=etl_reader)
    assert response.status_code == 200
    assert [d["dag_id"] for d in response.json()["dags"]] == ["etl"]
    assert response.json()["total_entries"] == 1
    assert client.get("/dags/etl", auth=etl_reader).status_code == 200
    assert client.get("/dags/secret", auth=etl_reader).status_code == 403
    # A DAG that does not exist is checked for access before existence.
    assert client.get("/dags/nope", auth=etl_reader).status_code == 403
    assert client.get("/dags/etl/dagRuns", auth=etl_reader).status_code == 200
    assert client.get("/dags/etl/dagRuns/run_1", auth=etl_reader).status_code == 200
    assert client.get("/dags/secret/dagRuns", auth=etl_reader).status_code == 403
    assert client.get("/dags/etl/dagRuns/run_1/taskInstances", auth=etl_reader).status_code == 200
    assert (
        client.get("/dags/secret/dagRuns/run_s/taskInstances", auth=etl_reader).status_code == 403
    )
    logs = "/dags/etl/dagRuns/run_1/taskInstances/extract/logs/1"
    assert client.get(logs, auth=etl_reader).status_code == 200
    # `~` needs the global DAG Runs permission.
    assert client.get("/dags/~/dagRuns", auth=etl_reader).status_code == 403
    assert client.patch("/dags/etl", json={"is_paused": True}, auth=etl_reader).status_code == 403
    assert client.post("/dags/etl/dagRuns", json={}, auth=etl_reader).status_code == 403


def test_wildcard_lists_are_filtered(client: httpx.Client, world: None) -> None:
    add_role(
        "RunWatcher",
        {(READ, "DAG:etl"), (READ, "DAG Runs"), (READ, "Task Instances")},
    )
    auth = add_user("watcher", ["RunWatcher"]).auth
    runs = client.get("/dags/~/dagRuns", auth=auth)
    assert runs.status_code == 200
    assert [r["dag_run_id"] for r in runs.json()["dag_runs"]] == ["run_1"]
    assert runs.json()["total_entries"] == 1
    tis = client.get("/dags/~/dagRuns/~/taskInstances", auth=auth)
    assert tis.status_code == 200
    assert {t["dag_id"] for t in tis.json()["task_instances"]} == {"etl"}


def test_per_dag_trigger_and_pause(client: httpx.Client, world: None) -> None:
    add_role(
        "EtlOperator",
        {(READ, "DAG:etl"), (EDIT, "DAG:etl"), (CREATE, "DAG Run:etl"), (READ, "DAG Run:etl")},
    )
    auth = add_user("etl_op", ["EtlOperator"]).auth
    assert client.post("/dags/etl/dagRuns", json={}, auth=auth).status_code == 200
    assert client.patch("/dags/etl", json={"is_paused": True}, auth=auth).status_code == 200
    assert client.post("/dags/secret/dagRuns", json={}, auth=auth).status_code == 403
    assert client.patch("/dags/secret", json={"is_paused": True}, auth=auth).status_code == 403


def test_trigger_needs_dag_edit_too(client: httpx.Client, world: None) -> None:
    add_role("RunCreator", {(READ, "DAGs"), (CREATE, "DAG Runs")})
    auth = add_user("creator", ["RunCreator"]).auth
    assert client.post("/dags/etl/dagRuns", json={}, auth=auth).status_code == 403
