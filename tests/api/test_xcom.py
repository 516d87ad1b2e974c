"""`.../xcomEntries`: list (with `~` for DAG, run and task), one entry with its value
(stringified or native), the deserialize switch, errors and who may read."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest

from aerovane.api.v1.datamodels.xcom import XComCollectionResponse, XComResponse
from aerovane.auth.permissions import READ
from tests.api.conftest import add_dag, add_role, add_run, add_user, count_queries
from tests.api.test_errors import assert_problem
from tests.api.test_task_instances_more import run_row

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 2, tzinfo=UTC)
STAMP = dt.datetime(2024, 3, 1, 0, 5, tzinfo=UTC)
XCOMS = "/dags/etl/dagRuns/run_1/taskInstances/extract/xcomEntries"


def add_xcom(dag_id: str, run_id: str, task_id: str, key: str, value: Any, **kw: Any) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    run = run_row(dag_id, run_id)
    with create_session() as session:
        session.add(
            models.XCom(
                dag_run_id=run.id,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                key=key,
                value=None if kw.pop("raw_null", False) else json.dumps(value),
                timestamp=kw.pop("timestamp", STAMP),
                map_index=kw.pop("map_index", -1),
            )
        )


@pytest.fixture
def xcoms(accounts: Any) -> None:
    add_dag("etl", task_ids=("extract", "load"))
    add_dag("other", task_ids=("only",))
    add_run("etl", "run_1", logical_date=D1)
    add_run("etl", "run_2", logical_date=D2)
    add_run("other", "run_o", logical_date=D1)
    add_xcom("etl", "run_1", "extract", "return_value", {"rows": 3, "ok": True})
    add_xcom("etl", "run_1", "extract", "names", ["a", "b"])
    add_xcom("etl", "run_1", "extract", "nothing", None, raw_null=True)
    add_xcom("etl", "run_1", "load", "return_value", 42)
    add_xcom("etl", "run_2", "extract", "return_value", "text")
    add_xcom("other", "run_o", "only", "return_value", 1.5)


def _keys(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    XComCollectionResponse.model_validate(response.json())
    return [
        f"{x['dag_id']}.{x['task_id']}.{x['key']}@{x['execution_date'][:10]}"
        for x in response.json()["xcom_entries"]
    ]


def test_list_entries(client: httpx.Client, admin: httpx.BasicAuth, xcoms: None) -> None:
    response = client.get(XCOMS, auth=admin)
    assert _keys(response) == [
        "etl.extract.names@2024-03-01",
        "etl.extract.nothing@2024-03-01",
        "etl.extract.return_value@2024-03-01",
    ]
    first = response.json()["xcom_entries"][0]
    assert first == {
        "key": "names",
        "timestamp": "2024-03-01T00:05:00+00:00",
        "execution_date": "2024-03-01T00:00:00+00:00",
        "map_index": -1,
        "task_id": "extract",
        "dag_id": "etl",
    }
    assert response.json()["total_entries"] == 3


def test_wildcards(client: httpx.Client, admin: httpx.BasicAuth, xcoms: None) -> None:
    url = "/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries"
    assert len(_keys(client.get(url.format("~", "~", "~"), auth=admin))) == 6
    # Ordered by the run's logical date, then task, DAG and key.
    assert _keys(client.get(url.format("etl", "~", "extract"), auth=admin)) == [
        "etl.extract.names@2024-03-01",
        "etl.extract.nothing@2024-03-01",
        "etl.extract.return_value@2024-03-01",
        "etl.extract.return_value@2024-03-02",
    ]
    assert _keys(client.get(url.format("etl", "run_1", "~"), auth=admin))[-1] == (
        "etl.load.return_value@2024-03-01"
    )
    assert _keys(client.get(url.format("~", "run_o", "~"), auth=admin)) == [
        "other.only.return_value@2024-03-01"
    ]
    assert _keys(client.get(url.format("etl", "nope", "~"), auth=admin)) == []


def test_filters_and_paging(client: httpx.Client, admin: httpx.BasicAuth, xcoms: None) -> None:
    url = "/dags/~/dagRuns/~/taskInstances/~/xcomEntries"
    assert len(_keys(client.get(url, params={"xcom_key": "return_value"}, auth=admin))) == 4
    assert _keys(client.get(url, params={"map_index": 0}, auth=admin)) == []
    assert len(_keys(client.get(url, params={"map_index": -1}, auth=admin))) == 6
    first = client.get(url, params={"limit": 4}, auth=admin).json()
    rest = client.get(url, params={"limit": 4, "offset": 4}, auth=admin).json()
    assert first["total_entries"] == rest["total_entries"] == 6
    assert len(first["xcom_entries"]) == 4 and len(rest["xcom_entries"]) == 2
    assert_problem(client.get(url, params={"limit": -1}, auth=admin), 400)
    assert_problem(client.get(url, params={"map_index": "x"}, auth=admin), 400)
    assert_problem(client.get(url, params={"key": "x"}, auth=admin), 400)


def test_get_entry_stringified(client: httpx.Client, admin: httpx.BasicAuth, xcoms: None) -> None:
    response = client.get(f"{XCOMS}/return_value", auth=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    XComResponse.model_validate(body)
    assert body == {
        "key": "return_value",
        "timestamp": "2024-03-01T00:05:00+00:00",
        "execution_date": "2024-03-01T00:00:00+00:00",
        "map_index": -1,
        "task_id": "extract",
        "dag_id": "etl",
        "value": "{'rows': 3, 'ok': True}",
    }
    assert client.get(f"{XCOMS}/names", auth=admin).json()["value"] == "['a', 'b']"
    assert client.get(f"{XCOMS}/nothing", auth=admin).json()["value"] is None
    load = "/dags/etl/dagRuns/run_1/taskInstances/load/xcomEntries/return_value"
    assert client.get(load, auth=admin).json()["value"] == "42"


def test_get_entry_native(client: httpx.Client, admin: httpx.BasicAuth, xcoms: None) -> None:
    native = {"stringify": "false"}
    response = client.get(f"{XCOMS}/return_value", params=native, auth=admin)
    assert response.json()["value"] == {"rows": 3, "ok": True}
    assert client.get(f"{XCOMS}/names", params=native, auth=admin).json()["value"] == ["a", "b"]
    load = "/dags/etl/dagRuns/run_1/taskInstances/load/xcomEntries/return_value"
    assert client.get(load, params=native, auth=admin).json()["value"] == 42


def test_get_entry_errors(client: httpx.Client, admin: httpx.BasicAuth, xcoms: None) -> None:
    assert_problem(
        client.get(f"{XCOMS}/return_value", params={"deserialize": "true"}, auth=admin),
        400,
        title="Bad Request",
        detail="XCom deserialization is disabled in configuration.",
    )
    ok = client.get(f"{XCOMS}/return_value", params={"deserialize": "false"}, auth=admin)
    assert ok.status_code == 200
    for url in (
        f"{XCOMS}/missing",
        "/dags/etl/dagRuns/run_2/taskInstances/extract/xcomEntries/names",
        "/dags/~/dagRuns/~/taskInstances/~/xcomEntries/return_value",
    ):
        assert_problem(client.get(url, auth=admin), 404, title="XCom entry not found", detail=None)
    assert_problem(
        client.get(f"{XCOMS}/return_value", params={"map_index": 0}, auth=admin),
        404,
        title="XCom entry not found",
    )
    assert_problem(client.get(f"{XCOMS}/return_value", params={"other": 1}, auth=admin), 400)


def test_list_query_count_does_not_grow(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    add_dag("wide", task_ids=("t",))
    add_run("wide", "r1", logical_date=D1)
    add_xcom("wide", "r1", "t", "k0", 0)
    url = "/dags/wide/dagRuns/r1/taskInstances/t/xcomEntries"
    with count_queries() as few:
        client.get(url, auth=admin)
    for i in range(1, 30):
        add_xcom("wide", "r1", "t", f"k{i}", i)
    with count_queries() as many:
        response = client.get(url, auth=admin)
    assert response.json()["total_entries"] == 30
    assert len(many) == len(few), many


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
def test_default_roles(client: httpx.Client, accounts: Any, xcoms: None, role: str) -> None:
    auth = accounts[role].auth
    for url in (XCOMS, f"{XCOMS}/return_value", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries"):
        response = client.get(url, auth=auth)
        expected = 403 if role == "Public" else 200
        assert response.status_code == expected, (url, role, response.text)
    assert_problem(client.get(XCOMS), 401)


def test_per_dag_access(client: httpx.Client, xcoms: None) -> None:
    add_role("EtlXcoms", {(READ, "DAG:etl"), (READ, "XComs")})
    auth = add_user("etl_xcoms", ["EtlXcoms"]).auth
    everything = "/dags/~/dagRuns/~/taskInstances/~/xcomEntries"
    assert {k.split(".")[0] for k in _keys(client.get(everything, auth=auth))} == {"etl"}
    assert client.get(XCOMS, auth=auth).status_code == 200
    other = "/dags/other/dagRuns/run_o/taskInstances/only/xcomEntries"
    assert client.get(other, auth=auth).status_code == 403
    add_role("NoXcoms", {(READ, "DAGs")})
    assert client.get(XCOMS, auth=add_user("no_xcoms", ["NoXcoms"]).auth).status_code == 403
