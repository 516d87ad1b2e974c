"""Edges of the API found by fuzzing and by the official client (issue 13)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from aerovane.authoring import DAG, Dataset, EmptyOperator
from tests.api.conftest import add_dag, add_run
from tests.api.test_dags_more import store_dags
from tests.api.test_errors import assert_problem

D1 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
RUN1 = "/dags/etl/dagRuns/run_1/taskInstances"
HUGE = 2**63


@pytest.fixture
def etl(accounts: Any) -> None:
    add_dag("etl", task_ids=("extract",))
    add_run("etl", "run_1", logical_date=D1, state="running")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"{RUN1}/extract/{HUGE}", None),
        ("PATCH", f"{RUN1}/extract/{HUGE}", {"new_state": "success", "dry_run": True}),
        ("PATCH", f"{RUN1}/extract/{HUGE}/setNote", {"note": "x"}),
        ("GET", f"{RUN1}/extract/{HUGE}/dependencies", None),
        ("GET", f"{RUN1}/extract/{HUGE}/tries", None),
        ("GET", f"{RUN1}/extract/tries/{HUGE}", None),
        ("GET", f"{RUN1}/extract/{HUGE}/tries/1", None),
        ("GET", f"{RUN1}/extract/0/tries/{HUGE}", None),
        ("GET", f"{RUN1}/extract/logs/{HUGE}", None),
        ("GET", f"{RUN1}/extract/logs/1?map_index={HUGE}", None),
        ("GET", f"{RUN1}/extract/links?map_index={HUGE}", None),
    ],
)
def test_numbers_beyond_64_bits_are_not_found(
    client: httpx.Client, admin: httpx.BasicAuth, etl: None, method: str, path: str, body: Any
) -> None:
    """SQLite cannot bind an integer >= 2**63; no row can hold one, so the answer is 404."""
    response = client.request(method, path, json=body, auth=admin)
    assert_problem(response, 404)


# -- dataset_expression ---------------------------------------------------------------------------


def test_dag_on_one_dataset_has_an_all_expression_the_official_client_reads(
    base_url: str, accounts: Any, tmp_path: Path
) -> None:
    """`schedule=[Dataset(uri)]` is `DatasetAll(uri)` in Airflow; the 2.10 client refuses the
    bare string `uri` as a `dataset_expression`."""
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api import dag_api

    with DAG(
        "consumer", schedule=[Dataset("s3://bucket/one")], start_date=D1, auto_register=False
    ) as dag:
        EmptyOperator(task_id="wait")
    store_dags(tmp_path / "consumer.py", dag)

    conf = client.Configuration(host=base_url + "/api/v1", username="admin", password="Admin-pw")
    with client.ApiClient(conf) as api:
        detail = dag_api.DAGApi(api).get_dag_details("consumer")
    assert detail.dataset_expression == {"all": ["s3://bucket/one"]}


# -- timetable_description ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "description"),
    [
        ("@daily", "At 00:00"),
        ("*/5 9-17 * * 1-5", "Every 5 minutes, between 09:00 and 17:59, Monday through Friday"),
        (None, "Never, external triggers only"),
        ("@once", "Once, as soon as possible"),
        ([Dataset("s3://bucket/one")], "Triggered by datasets"),
    ],
)
def test_timetable_description_is_the_human_text(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    accounts: Any,
    tmp_path: Path,
    schedule: Any,
    description: str,
) -> None:
    with DAG("described", schedule=schedule, start_date=D1, auto_register=False) as dag:
        EmptyOperator(task_id="only")
    store_dags(tmp_path / "described.py", dag)
    for path in ("/dags/described", "/dags/described/details"):
        assert client.get(path, auth=admin).json()["timetable_description"] == description
    listed = client.get("/dags", auth=admin).json()["dags"]
    assert [d["timetable_description"] for d in listed] == [description]


# -- request bodies typed as Airflow's spec types them ----------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("PATCH", "/dags/etl", {"is_paused": 0}, "0 is not of type 'boolean' - 'is_paused'"),
        (
            "PATCH",
            "/dags/etl",
            {"is_paused": "yes"},
            "'yes' is not of type 'boolean' - 'is_paused'",
        ),
        (
            "PATCH",
            f"{RUN1}/extract",
            {"new_state": "success", "dry_run": 0},
            "0 is not of type 'boolean' - 'dry_run'",
        ),
        ("POST", "/dags/etl/clearTaskInstances", {"dry_run": 0}, None),
        ("POST", "/dags/etl/dagRuns/run_1/clear", {"dry_run": 0}, None),
        ("POST", "/dags/etl/dagRuns", {"conf": None}, "None is not of type 'object' - 'conf'"),
        ("PATCH", "/dags/etl/dagRuns/run_1/setNote", {"note": None}, None),
        ("PATCH", f"{RUN1}/extract/setNote", {"note": None}, None),
        ("POST", "/dags/~/dagRuns/list", {"execution_date_gte": 0}, None),
        ("POST", "/dags/~/dagRuns/list", {"start_date_lte": None}, None),
        ("POST", "/dags/~/dagRuns/~/taskInstances/list", {"end_date_gte": 0}, None),
        ("POST", "/dags/~/dagRuns/~/taskInstances/list", {"execution_date_lte": None}, None),
    ],
)
def test_wrongly_typed_values_are_refused(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    etl: None,
    method: str,
    path: str,
    body: dict[str, Any],
    detail: str | None,
) -> None:
    """`0` is no boolean and no date, `null` no object or string: Airflow answers 400 before
    reading the body, and nothing changes."""
    response = client.request(method, path, json=body, auth=admin)
    problem = assert_problem(response, 400)
    if detail is not None:
        assert problem["detail"] == detail
    dag = client.get("/dags/etl", auth=admin).json()
    assert dag["is_paused"] is False
    runs = client.get("/dags/etl/dagRuns", auth=admin).json()
    assert [r["dag_run_id"] for r in runs["dag_runs"]] == ["run_1"]
    assert runs["dag_runs"][0]["note"] is None


# -- 405 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/dags/etl", "DELETE, GET, PATCH"),
        ("PUT", "/dags/etl/dagRuns/run_1", "DELETE, GET, PATCH"),
        ("DELETE", "/version", "GET"),
    ],
)
def test_405_allows_every_method_of_the_path(
    client: httpx.Client, admin: httpx.BasicAuth, etl: None, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path, auth=admin)
    assert_problem(response, 405, type="about:blank")
    assert response.headers["allow"] == allow
