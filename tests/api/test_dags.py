"""`/dags`: listing (filters, paging, sorting, fields), getting and pausing a DAG."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api import signing
from aerovane.api.v1.datamodels.dags import DAGCollectionResponse, DAGResponse
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_dag, count_queries
from tests.api.test_errors import assert_problem


@pytest.fixture
def dags(accounts: Any) -> None:
    add_dag("alpha", schedule="@daily", tags=["etl", "prod"])
    add_dag("beta", schedule=None, tags=["etl"], is_paused=True, display_name="Beta DAG")
    add_dag("gamma", schedule="0 3 * * *", owner="alice")
    add_dag("delta_old", is_active=False)


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["dag_id"] for d in response.json()["dags"]]


def test_list_dags(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    response = client.get("/dags", auth=admin)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = DAGCollectionResponse.model_validate(response.json())
    assert body.total_entries == 3
    assert [d.dag_id for d in body.dags] == ["alpha", "beta", "gamma"]
    alpha = response.json()["dags"][0]
    assert alpha["schedule_interval"] == {"__type": "CronExpression", "value": "@daily"}
    assert alpha["tags"] == [{"name": "etl"}, {"name": "prod"}]
    assert alpha["owners"] == ["airflow"]
    assert alpha["dag_display_name"] == "alpha"
    assert alpha["is_subdag"] is False
    assert alpha["root_dag_id"] is None
    assert alpha["fileloc"] == "/opt/dags/alpha.py"
    assert alpha["last_parsed_time"] == "2024-05-01T12:00:00+00:00"
    assert signing.fileloc_from_token(alpha["file_token"]) == "/opt/dags/alpha.py"
    beta = response.json()["dags"][1]
    assert beta["dag_display_name"] == "Beta DAG"
    assert beta["schedule_interval"] is None
    assert beta["is_paused"] is True


def test_list_filters(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    assert _ids(client.get("/dags", params={"only_active": "false"}, auth=admin)) == [
        "alpha",
        "beta",
        "delta_old",
        "gamma",
    ]
    assert _ids(client.get("/dags", params={"paused": "true"}, auth=admin)) == ["beta"]
    assert _ids(client.get("/dags", params={"paused": "false"}, auth=admin)) == ["alpha", "gamma"]
    assert _ids(client.get("/dags", params={"tags": "prod"}, auth=admin)) == ["alpha"]
    assert _ids(client.get("/dags", params=[("tags", "prod"), ("tags", "etl")], auth=admin)) == [
        "alpha",
        "beta",
    ]
    assert _ids(client.get("/dags", params={"dag_id_pattern": "ET"}, auth=admin)) == ["beta"]
    response = client.get("/dags", params={"dag_id_pattern": "a", "paused": "false"}, auth=admin)
    assert response.json()["total_entries"] == 2


def test_pagination_and_total(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    response = client.get("/dags", params={"limit": 2}, auth=admin)
    assert _ids(response) == ["alpha", "beta"]
    assert response.json()["total_entries"] == 3
    response = client.get("/dags", params={"limit": 2, "offset": 2}, auth=admin)
    assert _ids(response) == ["gamma"]
    assert response.json()["total_entries"] == 3
    response = client.get("/dags", params={"offset": 10}, auth=admin)
    assert _ids(response) == []
    assert response.json()["total_entries"] == 3


def test_order_by(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    assert _ids(client.get("/dags", params={"order_by": "-dag_id"}, auth=admin)) == [
        "gamma",
        "beta",
        "alpha",
    ]
    assert_problem(
        client.get("/dags", params={"order_by": "description"}, auth=admin),
        400,
        detail=(
            "Ordering with 'description' is disallowed or the attribute does not exist on the model"
        ),
    )


def test_limit_rules(
    client: httpx.Client, admin: httpx.BasicAuth, dags: None, configure: Any
) -> None:
    configure(api__maximum_page_limit="2", api__fallback_page_limit="1")
    assert _ids(client.get("/dags", params={"limit": 50}, auth=admin)) == ["alpha", "beta"]
    assert _ids(client.get("/dags", auth=admin)) == ["alpha", "beta"]
    assert _ids(client.get("/dags", params={"limit": 0}, auth=admin)) == ["alpha"]
    assert_problem(
        client.get("/dags", params={"limit": -1}, auth=admin),
        400,
        title="Page limit must be a positive integer",
    )
    assert_problem(client.get("/dags", params={"offset": -1}, auth=admin), 400)


def test_fields(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    response = client.get("/dags", params=[("fields", "dag_id"), ("fields", "tags")], auth=admin)
    assert response.json()["dags"][0] == {
        "dag_id": "alpha",
        "tags": [{"name": "etl"}, {"name": "prod"}],
    }
    response = client.get("/dags/gamma", params={"fields": "dag_id,owners"}, auth=admin)
    assert response.json() == {"dag_id": "gamma", "owners": ["alice"]}
    body = assert_problem(
        client.get("/dags", params={"fields": "dag_id,colour"}, auth=admin),
        400,
        title="DAGCollectionSchema init error",
    )
    assert "colour" in body["detail"]
    assert_problem(
        client.get("/dags/alpha", params={"fields": "nope"}, auth=admin),
        400,
        title="DAGSchema init error",
    )


def test_get_dag(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    response = client.get("/dags/gamma", auth=admin)
    assert response.status_code == 200
    body = DAGResponse.model_validate(response.json())
    assert body.owners == ["alice"]
    assert response.json()["schedule_interval"] == {
        "__type": "CronExpression",
        "value": "0 3 * * *",
    }
    # Inactive DAGs can still be read one by one, as in Airflow.
    assert client.get("/dags/delta_old", auth=admin).status_code == 200


def test_get_missing_dag(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    assert_problem(
        client.get("/dags/nope", auth=admin),
        404,
        title="DAG not found",
        detail="The DAG with dag_id: nope was not found",
    )


def _paused(dag_id: str) -> bool:
    with create_session(readonly=True) as session:
        dag = session.get(models.DagModel, dag_id)
        assert dag is not None
        return dag.is_paused


def test_pause_and_unpause(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    response = client.patch("/dags/alpha", json={"is_paused": True}, auth=admin)
    assert response.status_code == 200, response.text
    assert DAGResponse.model_validate(response.json()).is_paused is True
    assert response.json()["tags"] == [{"name": "etl"}, {"name": "prod"}]
    assert _paused("alpha")
    response = client.patch(
        "/dags/alpha", params={"update_mask": "is_paused"}, json={"is_paused": False}, auth=admin
    )
    assert response.status_code == 200
    assert response.json()["is_paused"] is False
    assert not _paused("alpha")


def test_patch_errors(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    assert_problem(
        client.patch(
            "/dags/alpha",
            params={"update_mask": "is_paused,description"},
            json={"is_paused": True},
            auth=admin,
        ),
        400,
        detail="Only `is_paused` field can be updated through the REST API",
    )
    assert_problem(
        client.patch(
            "/dags/alpha", params={"update_mask": "owners"}, json={"is_paused": True}, auth=admin
        ),
        400,
    )
    body = assert_problem(
        client.patch("/dags/alpha", json={"is_paused": True, "dag_id": "x"}, auth=admin), 400
    )
    assert "'dag_id'" in body["detail"]
    assert_problem(client.patch("/dags/alpha", json={}, auth=admin), 400)
    assert_problem(client.patch("/dags/alpha", json={"is_paused": "maybe"}, auth=admin), 400)
    assert_problem(
        client.patch("/dags/nope", json={"is_paused": True}, auth=admin),
        404,
        title="Dag with id: 'nope' not found",
    )
    assert not _paused("alpha")


def test_patch_writes_audit_row(client: httpx.Client, accounts: Any, dags: None) -> None:
    user = accounts["User"]
    response = client.patch(
        "/dags/gamma",
        params={"update_mask": "is_paused"},
        json={"is_paused": True},
        auth=user.auth,
    )
    assert response.status_code == 200
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog)))
    assert len(rows) == 1
    row = rows[0]
    assert row.event == "api.patch_dag"
    assert row.owner == "user"
    assert row.dag_id == "gamma"
    assert '"is_paused": true' in (row.extra or "")


def test_reads_are_not_audited(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    client.get("/dags", auth=admin)
    client.get("/dags/alpha", auth=admin)
    with create_session(readonly=True) as session:
        assert list(session.scalars(select(models.EventLog))) == []


def test_list_query_count_does_not_grow(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    for i in range(3):
        add_dag(f"small_{i}", tags=["a", "b"])
    with count_queries() as few:
        assert len(_ids(client.get("/dags", params={"limit": 2}, auth=admin))) == 2
    for i in range(30):
        add_dag(f"more_{i:02d}", tags=["a", "b", "c"])
    with count_queries() as many:
        assert len(_ids(client.get("/dags", params={"limit": 25}, auth=admin))) == 25
    assert len(many) == len(few), many
    # authentication (1) + page + tags + count
    assert len(many) <= 4, many
