"""`/dagStats` (run counts per state) and `/dagWarnings` (computed from the stored DAGs and
pools: tasks using a pool that does not exist)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from aerovane.api.v1.datamodels.dags import (
    DagStatsCollectionResponse,
    DagWarningCollectionResponse,
)
from aerovane.auth.permissions import READ
from aerovane.authoring import DAG, EmptyOperator
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_dag, add_role, add_run, add_user, count_queries
from tests.api.test_dags_more import store_dags
from tests.api.test_errors import assert_problem

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)
STATES = ["queued", "running", "success", "failed"]


@pytest.fixture
def stats(accounts: Any) -> None:
    add_dag("etl")
    add_dag("idle")
    add_dag("gone")
    for n, state in enumerate(["success", "success", "failed", "running", "queued", "success"]):
        add_run("etl", f"r{n}", logical_date=D1 + dt.timedelta(days=n), state=state)
    add_run("gone", "g0", logical_date=D1, state="failed")
    with create_session() as session:
        session.execute(
            update(models.DagModel).where(models.DagModel.dag_id == "gone").values(is_active=False)
        )


def _stats(response: httpx.Response) -> dict[str, dict[str, int]]:
    assert response.status_code == 200, response.text
    body = DagStatsCollectionResponse.model_validate(response.json())
    assert body.total_entries == len(body.dags)
    out = {}
    for item in response.json()["dags"]:
        assert [s["state"] for s in item["stats"]] == STATES
        out[item["dag_id"]] = {s["state"]: s["count"] for s in item["stats"]}
    return out


# -- /dagStats ------------------------------------------------------------------------------------


def test_dag_stats(client: httpx.Client, admin: httpx.BasicAuth, stats: None) -> None:
    response = client.get("/dagStats", params={"dag_ids": "idle,etl,nope"}, auth=admin)
    assert _stats(response) == {
        "etl": {"queued": 1, "running": 1, "success": 3, "failed": 1},
        "idle": {"queued": 0, "running": 0, "success": 0, "failed": 0},
    }
    assert [d["dag_id"] for d in response.json()["dags"]] == ["etl", "idle"]
    assert response.json()["total_entries"] == 2


def test_dag_stats_all_dags(client: httpx.Client, admin: httpx.BasicAuth, stats: None) -> None:
    everything = _stats(client.get("/dagStats", params={"dag_ids": ""}, auth=admin))
    assert sorted(everything) == ["etl", "gone", "idle"]
    assert everything["gone"]["failed"] == 1


def test_dag_stats_needs_dag_ids(client: httpx.Client, admin: httpx.BasicAuth, stats: None) -> None:
    body = assert_problem(client.get("/dagStats", auth=admin), 400)
    assert "dag_ids" in body["detail"]
    assert_problem(client.get("/dagStats", params={"dag_ids": "etl", "x": "1"}, auth=admin), 400)


def test_dag_stats_only_readable(client: httpx.Client, stats: None) -> None:
    add_role("EtlStats", {(READ, "DAG:etl"), (READ, "DAG Runs")})
    auth = add_user("etl_stats", ["EtlStats"]).auth
    assert list(_stats(client.get("/dagStats", params={"dag_ids": "etl,idle"}, auth=auth))) == [
        "etl"
    ]
    assert list(_stats(client.get("/dagStats", params={"dag_ids": ""}, auth=auth))) == ["etl"]


def test_dag_stats_query_count(client: httpx.Client, admin: httpx.BasicAuth, stats: None) -> None:
    with count_queries() as one:
        _stats(client.get("/dagStats", params={"dag_ids": "etl"}, auth=admin))
    for n in range(15):
        add_dag(f"more_{n:02d}")
        add_run(f"more_{n:02d}", "r", logical_date=D1)
    ids = ",".join(f"more_{n:02d}" for n in range(15))
    with count_queries() as many:
        assert len(_stats(client.get("/dagStats", params={"dag_ids": ids}, auth=admin))) == 15
    assert len(many) == len(one)


def test_dag_stats_with_official_client(base_url: str, stats: None) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api import dag_stats_api

    conf = client.Configuration(host=base_url + "/api/v1", username="admin", password="Admin-pw")
    with client.ApiClient(conf) as api:
        result = dag_stats_api.DagStatsApi(api).get_dag_stats(dag_ids="etl")
    assert result.dags[0].dag_id == "etl"
    assert {s.state: s.count for s in result.dags[0].stats}["success"] == 3


# -- /dagWarnings ---------------------------------------------------------------------------------


def _pooled_dag(dag_id: str, *pools: str) -> DAG:
    with DAG(dag_id, schedule=None, start_date=D1, auto_register=False) as dag:
        for n, pool in enumerate(pools):
            EmptyOperator(task_id=f"t{n}", pool=pool)
    return dag


@pytest.fixture
def warnings(accounts: Any, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    store_dags(folder / "bad.py", _pooled_dag("bad", "missing_b", "missing_a", "default_pool"))
    store_dags(folder / "also_bad.py", _pooled_dag("also_bad", "missing_a"))
    store_dags(folder / "good.py", _pooled_dag("good", "default_pool"))
    store_dags(folder / "old.py", _pooled_dag("old", "missing_c"))
    with create_session() as session:
        for dag_id, hour in (("bad", 2), ("also_bad", 1), ("old", 3)):
            session.execute(
                update(models.DagModel)
                .where(models.DagModel.dag_id == dag_id)
                .values(last_parsed_time=D1 + dt.timedelta(hours=hour))
            )
        session.execute(
            update(models.DagModel).where(models.DagModel.dag_id == "old").values(is_active=False)
        )


def _warnings(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    DagWarningCollectionResponse.model_validate(response.json())
    return [(w["dag_id"], w["message"]) for w in response.json()["dag_warnings"]]


def test_dag_warnings(client: httpx.Client, admin: httpx.BasicAuth, warnings: None) -> None:
    response = client.get("/dagWarnings", auth=admin)
    assert _warnings(response) == [
        ("also_bad", "Dag 'also_bad' references non-existent pools: ['missing_a']"),
        ("bad", "Dag 'bad' references non-existent pools: ['missing_a', 'missing_b']"),
    ]
    assert response.json()["total_entries"] == 2
    first = response.json()["dag_warnings"][0]
    assert first["warning_type"] == "non-existent pool"
    assert first["timestamp"] == "2024-03-01T01:00:00+00:00"


def test_dag_warnings_follow_the_pools(
    client: httpx.Client, admin: httpx.BasicAuth, warnings: None
) -> None:
    with create_session() as session:
        session.add(models.Pool(pool="missing_a", slots=1))
    assert _warnings(client.get("/dagWarnings", auth=admin)) == [
        ("bad", "Dag 'bad' references non-existent pools: ['missing_b']")
    ]
    with create_session() as session:
        session.add(models.Pool(pool="missing_b", slots=1))
    assert _warnings(client.get("/dagWarnings", auth=admin)) == []


def test_dag_warnings_filters_and_paging(
    client: httpx.Client, admin: httpx.BasicAuth, warnings: None
) -> None:
    def dag_ids(**params: Any) -> list[str]:
        return [d for d, _ in _warnings(client.get("/dagWarnings", params=params, auth=admin))]

    assert dag_ids(dag_id="bad") == ["bad"]
    assert dag_ids(dag_id="good") == []
    assert dag_ids(dag_id="old") == []
    assert dag_ids(warning_type="non-existent pool") == ["also_bad", "bad"]
    assert dag_ids(warning_type="asset conflict") == []
    assert dag_ids(order_by="-timestamp") == ["bad", "also_bad"]
    assert dag_ids(order_by="-dag_id") == ["bad", "also_bad"]
    assert dag_ids(order_by="message") == ["also_bad", "bad"]
    assert dag_ids(order_by="warning_type") == ["also_bad", "bad"]
    response = client.get("/dagWarnings", params={"limit": 1, "offset": 1}, auth=admin)
    assert _warnings(response) == [
        ("bad", "Dag 'bad' references non-existent pools: ['missing_a', 'missing_b']")
    ]
    assert response.json()["total_entries"] == 2
    assert_problem(
        client.get("/dagWarnings", params={"order_by": "colour"}, auth=admin),
        400,
        detail="Ordering with 'colour' is disallowed or the attribute does not exist on the model",
    )
    assert_problem(client.get("/dagWarnings", params={"limit": -1}, auth=admin), 400)


def test_dag_warnings_only_readable(client: httpx.Client, warnings: None) -> None:
    add_role("BadWarnings", {(READ, "DAG Warnings"), (READ, "DAG:also_bad")})
    auth = add_user("bad_warnings", ["BadWarnings"]).auth
    assert [d for d, _ in _warnings(client.get("/dagWarnings", auth=auth))] == ["also_bad"]
    assert client.get("/dagWarnings", params={"dag_id": "bad"}, auth=auth).status_code == 403
    add_role("NoWarnings", {(READ, "DAGs")})
    none = add_user("no_warnings", ["NoWarnings"]).auth
    assert client.get("/dagWarnings", auth=none).status_code == 403


def test_dag_warnings_query_count(
    client: httpx.Client, admin: httpx.BasicAuth, warnings: None, tmp_path: Path
) -> None:
    with count_queries() as few:
        _warnings(client.get("/dagWarnings", auth=admin))
    for n in range(12):
        store_dags(tmp_path / "more" / f"m{n}.py", _pooled_dag(f"m{n:02d}", f"pool_{n}"))
    with count_queries() as many:
        assert len(_warnings(client.get("/dagWarnings", auth=admin))) == 14
    assert len(many) <= len(few) + 1  # the new DAG versions are read once, in one query
    with count_queries() as warm:
        _warnings(client.get("/dagWarnings", auth=admin))
    assert len(warm) <= len(few)


def test_dag_warnings_ignore_unparsed_dags(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any
) -> None:
    add_dag("plain")
    with create_session() as session:
        session.execute(
            update(models.SerializedDagModel)
            .where(models.SerializedDagModel.dag_id == "plain")
            .values(
                data={"dag_id": "plain", "tasks": [{"task_id": "x", "pool": "nope"}]},
                dag_hash="changed",
            )
        )
        assert session.scalar(select(models.DagModel.is_active)) is True
    assert _warnings(client.get("/dagWarnings", auth=admin)) == [
        ("plain", "Dag 'plain' references non-existent pools: ['nope']")
    ]


# -- authorization --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("Admin", 200), ("Op", 200), ("User", 200), ("Viewer", 200), ("Public", 403)],
)
def test_default_roles(
    client: httpx.Client, accounts: Any, stats: None, role: str, expected: int
) -> None:
    auth = accounts[role].auth
    assert client.get("/dagStats", params={"dag_ids": "etl"}, auth=auth).status_code == expected
    assert client.get("/dagWarnings", auth=auth).status_code == expected


def test_anonymous_is_unauthenticated(client: httpx.Client, stats: None) -> None:
    assert client.get("/dagStats", params={"dag_ids": "etl"}).status_code == 401
    assert client.get("/dagWarnings").status_code == 401
