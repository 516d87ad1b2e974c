"""The deprecated experimental API (`/api/experimental`): off by default and switchable live,
authentication by the first backend only with its own refusals, no RBAC, every route's shapes
and errors (`{"error": ...}`), and the deprecation headers."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_dag, add_run, update_ti

UTC = dt.UTC
D1 = dt.datetime(2024, 1, 1, tzinfo=UTC)
D2 = dt.datetime(2024, 1, 2, 6, 30, tzinfo=UTC)
LINK = (
    "<https://airflow.apache.org/docs/apache-airflow/2.10.5/upgrading-to-2.html"
    '#migration-guide-from-experimental-api-to-stable-api-v1>; rel="deprecation"; type="text/html"'
)
#: (method, path) of every route, with the DAGs and runs of the `world` fixture.
ROUTES = [
    ("POST", "/dags/etl/dag_runs"),
    ("DELETE", "/dags/other"),
    ("GET", "/dags/etl/dag_runs"),
    ("GET", "/test"),
    ("GET", "/info"),
    ("GET", "/dags/etl/code"),
    ("GET", "/dags/etl/tasks/extract"),
    ("GET", "/dags/etl/paused/true"),
    ("GET", "/dags/etl/paused"),
    ("GET", "/dags/etl/dag_runs/2024-01-01T00:00:00+00:00/tasks/extract"),
    ("GET", "/dags/etl/dag_runs/2024-01-01T00:00:00+00:00"),
    ("GET", "/latest_runs"),
    ("GET", "/pools"),
    ("GET", "/pools/default_pool"),
    ("POST", "/pools"),
    ("DELETE", "/pools/spare"),
    ("GET", "/lineage/etl/2024-01-01T00:00:00+00:00"),
]
BODIES: dict[str, Any] = {
    "/dags/etl/dag_runs": {},
    "/pools": {"name": "made", "slots": 2, "description": "x"},
}


@pytest.fixture
def world(accounts: Any) -> None:
    add_dag("etl")
    add_dag("other")
    add_run("etl", "run_1", logical_date=D1)
    add_run("etl", "run_2", logical_date=D2)
    update_ti("etl", "run_1", "extract", state="success", try_number=1, hostname="worker-1")
    with create_session() as session:
        session.add(models.Pool(pool="spare", slots=3, description="Spare"))
        session.add(
            models.DagCode(fileloc_hash=1, fileloc="/opt/dags/etl.py", source_code="# etl\n")
        )


@pytest.fixture
def exp(base_url: str, world: None, configure: Any) -> Iterator[httpx.Client]:
    configure(api__enable_experimental_api="True", api__auth_backends="basic_auth")
    with httpx.Client(base_url=base_url + "/api/experimental", timeout=30) as c:
        yield c


@pytest.fixture
def admin_auth(accounts: Any) -> tuple[str, str]:
    return accounts["Admin"].auth


def call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    if method in {"POST"} and "json" not in kwargs:
        kwargs["json"] = BODIES.get(path, {})
    return client.request(method, path, **kwargs)


def events() -> list[models.EventLog]:
    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.EventLog).order_by(models.EventLog.id)))


# -- on / off -------------------------------------------------------------------------------------


def test_off_by_default(base_url: str, world: None, admin_auth: Any) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        unknown = c.get("/api/no-such-route", auth=admin_auth)
        assert unknown.status_code == 404
        for method, path in ROUTES:
            response = call(c, method, "/api/experimental" + path, auth=admin_auth)
            assert response.status_code == 404, (method, path)
            assert response.json() == unknown.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert "deprecation" not in response.headers
        # Nothing happened.
        assert c.get("/api/v1/dags/etl", auth=admin_auth).json()["is_paused"] is False


def test_switches_live(base_url: str, world: None, configure: Any, admin_auth: Any) -> None:
    configure(api__auth_backends="basic_auth")
    with httpx.Client(base_url=base_url + "/api/experimental", timeout=30) as c:
        assert c.get("/test", auth=admin_auth).status_code == 404
        configure(api__enable_experimental_api="True")
        assert c.get("/test", auth=admin_auth).json() == {"status": "OK"}
        configure(api__enable_experimental_api="False")
        assert c.get("/test", auth=admin_auth).status_code == 404


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_has_deprecation_headers(
    exp: httpx.Client, admin_auth: Any, method: str, path: str
) -> None:
    response = call(exp, method, path, auth=admin_auth)
    assert response.status_code == 200, (path, response.text)
    assert response.headers["deprecation"] == "true"
    assert response.headers["link"] == LINK


# -- authentication -------------------------------------------------------------------------------


def test_basic_auth_refusal_is_its_own(exp: httpx.Client) -> None:
    response = exp.get("/test", auth=("admin", "wrong"))
    assert response.status_code == 401
    assert response.text == "Unauthorized"
    assert response.headers["www-authenticate"] == "Basic"
    assert response.headers["deprecation"] == "true"
    assert exp.get("/test").status_code == 401


def test_only_the_first_backend_is_used(exp: httpx.Client, configure: Any, admin_auth: Any) -> None:
    configure(api__enable_experimental_api="True", api__auth_backends="deny_all,basic_auth")
    response = exp.get("/test", auth=admin_auth)
    assert response.status_code == 403
    assert response.text == "Forbidden"
    assert "www-authenticate" not in response.headers
    configure(api__enable_experimental_api="True", api__auth_backends="basic_auth,default")
    assert exp.get("/test").status_code == 401
    configure(api__enable_experimental_api="True", api__auth_backends="session,basic_auth")
    response = exp.get("/test", auth=admin_auth)
    assert response.status_code == 401
    assert response.text == "Unauthorized"
    assert "www-authenticate" not in response.headers


def test_default_backend_lets_anyone_in(exp: httpx.Client, configure: Any) -> None:
    configure(api__enable_experimental_api="True", api__auth_backends="default")
    assert exp.get("/test").json() == {"status": "OK"}
    assert exp.get("/dags/etl/paused/true").json() == {"response": "ok"}
    assert [(e.event, e.owner) for e in events()] == [("api.experimental.dag_paused", "anonymous")]


def test_no_rbac(exp: httpx.Client, accounts: Any) -> None:
    """Any authenticated user may do anything, even with the Public role."""
    public = accounts["Public"].auth
    assert (
        exp.post("/dags/etl/dag_runs", json={"run_id": "by_public"}, auth=public).status_code == 200
    )
    assert exp.delete("/pools/spare", auth=public).status_code == 200
    assert exp.get("/dags/etl/code", auth=public).status_code == 200


# -- trigger --------------------------------------------------------------------------------------


def _run(dag_id: str, run_id: str) -> models.DagRun:
    with create_session(readonly=True) as session:
        run = session.scalar(
            select(models.DagRun).where(
                models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
            )
        )
        assert run is not None
        return run


def test_trigger_defaults(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.post("/dags/etl/dag_runs", json={}, auth=admin_auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"message", "execution_date", "run_id"}
    when = dt.datetime.fromisoformat(body["execution_date"])
    assert when.microsecond == 0 and when.utcoffset() == dt.timedelta(0)
    assert body["run_id"] == f"manual__{body['execution_date']}"
    run = _run("etl", body["run_id"])
    assert run.state == "queued" and run.external_trigger and run.run_type == "manual"
    assert run.conf == {}
    assert body["message"] == (
        f"Created <DagRun etl @ {run.logical_date}: {run.run_id}, state:queued, "
        f"queued_at: {run.queued_at}. externally triggered: True>"
    )
    assert re.fullmatch(r"Created <DagRun etl @ \S+ \S+\+00:00: manual__.*", body["message"])
    assert [(e.event, e.owner, e.dag_id) for e in events()] == [
        ("api.experimental.trigger_dag", "admin", "etl")
    ]


def test_trigger_with_values(exp: httpx.Client, admin_auth: Any) -> None:
    body = {
        "run_id": "mine",
        "conf": {"a": 1},
        "execution_date": "2024-03-01T10:00:00.123456+02:00",
    }
    response = exp.post("/dags/etl/dag_runs", json=body, auth=admin_auth)
    assert response.status_code == 200, response.text
    assert response.json()["run_id"] == "mine"
    # Microseconds are kept when a date is given, unless asked otherwise.
    assert response.json()["execution_date"] == "2024-03-01T08:00:00.123456+00:00"
    assert _run("etl", "mine").conf == {"a": 1}
    body = {"execution_date": "2024-03-02T10:00:00.5", "replace_microseconds": "true"}
    response = exp.post("/dags/etl/dag_runs", content=json.dumps(body), auth=admin_auth)
    assert response.json()["execution_date"] == "2024-03-02T10:00:00+00:00"
    assert response.json()["run_id"] == "manual__2024-03-02T10:00:00+00:00"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"conf": [1, 2]},
            400,
            "Dag Run conf must be a dictionary object, other types are not supported",
        ),
        (
            {"conf": None},
            400,
            "Dag Run conf must be a dictionary object, other types are not supported",
        ),
        (
            {"execution_date": "yesterday"},
            400,
            "Given execution date, yesterday, could not be identified as a date. "
            "Example date format: 2015-11-16T14:34:15+00:00",
        ),
        ({"run_id": "run_1"}, 400, None),
        ({"execution_date": "2024-01-01T00:00:00+00:00"}, 400, None),
        ([1], 400, "The request body must be a JSON object"),
    ],
)
def test_trigger_errors(
    exp: httpx.Client, admin_auth: Any, body: Any, status: int, error: str | None
) -> None:
    response = exp.post("/dags/etl/dag_runs", json=body, auth=admin_auth)
    assert response.status_code == status
    message = response.json()["error"]
    if error is not None:
        assert message == error
    else:
        assert message.startswith("A DAG Run already exists for DAG etl at ")


def test_trigger_duplicate_message(exp: httpx.Client, admin_auth: Any) -> None:
    body = {"execution_date": "2024-01-01T00:00:00+00:00", "run_id": "fresh"}
    response = exp.post("/dags/etl/dag_runs", json=body, auth=admin_auth)
    assert response.json() == {
        "error": "A DAG Run already exists for DAG etl at 2024-01-01 00:00:00+00:00 "
        "with run id fresh"
    }


def test_trigger_bad_json_and_unknown_dag(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.post("/dags/etl/dag_runs", content=b"{not json", auth=admin_auth)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Failed to decode JSON object")
    response = exp.post("/dags/nope/dag_runs", json={}, auth=admin_auth)
    assert response.status_code == 404
    assert response.json() == {"error": "Dag id nope not found in DagModel"}


# -- DAGs and runs --------------------------------------------------------------------------------


def test_dag_runs(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.get("/dags/etl/dag_runs", auth=admin_auth)
    assert response.status_code == 200
    runs = response.json()
    assert [r["run_id"] for r in runs] == ["run_1", "run_2"]
    assert set(runs[0]) == {
        "id",
        "run_id",
        "state",
        "dag_id",
        "execution_date",
        "start_date",
        "dag_run_url",
    }
    assert runs[0]["execution_date"] == "2024-01-01T00:00:00+00:00"
    assert runs[0]["start_date"] == ""
    assert runs[0]["state"] == "queued"
    assert runs[0]["dag_run_url"] == (
        "/dags/etl/graph?execution_date=2024-01-01+00%3A00%3A00%2B00%3A00"
    )
    assert exp.get("/dags/etl/dag_runs?state=QUEUED", auth=admin_auth).json() == runs
    assert exp.get("/dags/etl/dag_runs?state=success", auth=admin_auth).json() == []


def test_dag_runs_errors_are_400(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.get("/dags/nope/dag_runs", auth=admin_auth)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "Dag id nope not found in DagModel"},
    )
    assert exp.get("/dags/etl/dag_runs?state=bogus", auth=admin_auth).status_code == 400


def test_test_and_info(exp: httpx.Client, admin_auth: Any) -> None:
    assert exp.get("/test", auth=admin_auth).json() == {"status": "OK"}
    assert exp.get("/info", auth=admin_auth).json() == {"version": "2.10.5"}


def test_code(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.get("/dags/etl/code", auth=admin_auth)
    assert response.status_code == 200
    assert response.text == "# etl\n"
    assert response.headers["content-type"].startswith("text/plain")
    response = exp.get("/dags/nope/code", auth=admin_auth)
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Dag id nope not found in DagModel"},
    )
    # The DAG exists, its source is not stored.
    response = exp.get("/dags/other/code", auth=admin_auth)
    assert response.status_code == 500
    assert response.json()["error"].endswith("while reading Dag id other Code")


def test_task_info(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.get("/dags/etl/tasks/extract", auth=admin_auth)
    assert response.status_code == 200
    info = response.json()
    assert info["task_id"] == "extract"
    assert info["owner"] == "airflow"
    assert info["retries"] == "0"
    assert all(isinstance(v, str) for v in info.values())
    response = exp.get("/dags/etl/tasks/nope", auth=admin_auth)
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Task nope not found in dag etl"},
    )


def test_paused(exp: httpx.Client, admin_auth: Any) -> None:
    assert exp.get("/dags/etl/paused", auth=admin_auth).json() == {"is_paused": False}
    assert exp.get("/dags/etl/paused/true", auth=admin_auth).json() == {"response": "ok"}
    assert exp.get("/dags/etl/paused", auth=admin_auth).json() == {"is_paused": True}
    # Only the exact string "true" pauses.
    assert exp.get("/dags/etl/paused/True", auth=admin_auth).status_code == 200
    assert exp.get("/dags/etl/paused", auth=admin_auth).json() == {"is_paused": False}
    response = exp.get("/dags/nope/paused/true", auth=admin_auth)
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Dag id nope not found in DagModel"},
    )
    assert exp.get("/dags/nope/paused", auth=admin_auth).status_code == 404
    assert [e.event for e in events()].count("api.experimental.dag_paused") == 3


def test_task_instance_info(exp: httpx.Client, admin_auth: Any) -> None:
    path = "/dags/etl/dag_runs/" + quote("2024-01-01T00:00:00+00:00") + "/tasks/extract"
    response = exp.get(path, auth=admin_auth)
    assert response.status_code == 200
    info = response.json()
    assert info["task_id"] == "extract"
    assert info["run_id"] == "run_1"
    assert info["state"] == "success"
    assert info["hostname"] == "worker-1"
    assert info["end_date"] == "None"
    # Naive dates are UTC.
    assert (
        exp.get("/dags/etl/dag_runs/2024-01-01T00:00:00/tasks/extract", auth=admin_auth).json()
        == info
    )


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        (
            "/dags/etl/dag_runs/2023-05-05T00:00:00+00:00/tasks/extract",
            404,
            "Dag Run for date 2023-05-05 00:00:00+00:00 not found in dag etl",
        ),
        ("/dags/etl/dag_runs/2024-01-01/tasks/nope", 404, "Task nope not found in dag etl"),
        (
            "/dags/etl/dag_runs/not-a-date/tasks/extract",
            400,
            "Given execution date, not-a-date, could not be identified as a date. "
            "Example date format: 2015-11-16T14:34:15+00:00",
        ),
    ],
)
def test_task_instance_info_errors(
    exp: httpx.Client, admin_auth: Any, path: str, status: int, error: str
) -> None:
    response = exp.get(path, auth=admin_auth)
    assert (response.status_code, response.json()) == (status, {"error": error})


def test_dag_run_state(exp: httpx.Client, admin_auth: Any) -> None:
    assert exp.get("/dags/etl/dag_runs/2024-01-02T06:30:00Z", auth=admin_auth).json() == {
        "state": "queued"
    }
    response = exp.get("/dags/etl/dag_runs/2030-01-01T00:00:00+00:00", auth=admin_auth)
    assert response.status_code == 404
    response = exp.get("/dags/etl/dag_runs/someday", auth=admin_auth)
    assert response.status_code == 400


def test_latest_runs(exp: httpx.Client, admin_auth: Any) -> None:
    add_run("other", "o1", logical_date=D1)
    response = exp.get("/latest_runs", auth=admin_auth)
    assert response.json() == {
        "items": [
            {
                "dag_id": "etl",
                "execution_date": "2024-01-02T06:30:00+00:00",
                "start_date": "",
                "dag_run_url": "/dags/etl/graph?execution_date=2024-01-02+06%3A30%3A00%2B00%3A00",
            },
            {
                "dag_id": "other",
                "execution_date": "2024-01-01T00:00:00+00:00",
                "start_date": "",
                "dag_run_url": "/dags/other/graph?execution_date=2024-01-01+00%3A00%3A00%2B00%3A00",
            },
        ]
    }


def test_lineage(exp: httpx.Client, admin_auth: Any) -> None:
    run = _run("etl", "run_1")
    with create_session() as session:
        for task_id, key, value in (
            ("extract", "pipeline_outlets", ["s3://bucket/raw"]),
            ("load", "pipeline_inlets", ["s3://bucket/raw"]),
            ("load", "return_value", 3),
        ):
            session.add(
                models.XCom(
                    dag_run_id=run.id,
                    task_id=task_id,
                    key=key,
                    dag_id="etl",
                    run_id="run_1",
                    value=json.dumps(value),
                )
            )
    response = exp.get("/lineage/etl/2024-01-01T00:00:00+00:00", auth=admin_auth)
    assert response.json() == {
        "task_ids": {
            "extract": {"outlets": ["s3://bucket/raw"]},
            "load": {"inlets": ["s3://bucket/raw"]},
        }
    }
    assert exp.get("/lineage/etl/2024-01-02T06:30:00+00:00", auth=admin_auth).json() == {
        "task_ids": {}
    }


def test_delete_dag(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.delete("/dags/etl", auth=admin_auth)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] > 0
    assert body == {"message": f"Removed {body['count']} record(s)", "count": body["count"]}
    with create_session(readonly=True) as session:
        assert session.get(models.DagModel, "etl") is None
        assert session.scalar(select(models.DagRun).where(models.DagRun.dag_id == "etl")) is None
    response = exp.delete("/dags/etl", auth=admin_auth)
    assert (response.status_code, response.json()) == (404, {"error": "Dag id etl not found"})


def test_delete_dag_with_running_tasks(exp: httpx.Client, admin_auth: Any) -> None:
    update_ti("etl", "run_2", "load", state="running")
    response = exp.delete("/dags/etl", auth=admin_auth)
    assert (response.status_code, response.json()) == (
        500,
        {"error": "TaskInstances still running"},
    )


# -- pools ----------------------------------------------------------------------------------------


def test_pools(exp: httpx.Client, admin_auth: Any) -> None:
    pools = exp.get("/pools", auth=admin_auth).json()
    assert [p["pool"] for p in pools] == ["default_pool", "spare"]
    spare = pools[1]
    assert set(spare) == {"id", "pool", "slots", "description", "include_deferred"}
    assert exp.get("/pools/spare", auth=admin_auth).json() == spare
    response = exp.get("/pools/nope", auth=admin_auth)
    assert (response.status_code, response.json()) == (404, {"error": "Pool 'nope' doesn't exist"})


def test_create_pool_creates_or_updates(exp: httpx.Client, admin_auth: Any) -> None:
    made = exp.post(
        "/pools", json={"name": "made", "slots": "4", "description": "new"}, auth=admin_auth
    )
    assert made.status_code == 200
    assert made.json()["slots"] == 4 and made.json()["include_deferred"] is False
    updated = exp.post(
        "/pools", json={"name": "made", "slots": 9, "description": None}, auth=admin_auth
    )
    assert updated.json() == {**made.json(), "slots": 9, "description": None}
    assert [e.event for e in events()] == ["api.experimental.create_pool"] * 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": "", "slots": 1, "description": ""}, "Pool name shouldn't be empty"),
        ({"name": "p", "slots": "many", "description": ""}, "Bad value for `slots`: many"),
        (
            {"name": "p" * 257, "slots": 1, "description": ""},
            "Pool name can't be more than 256 characters",
        ),
        ({"name": "p", "slots": 1}, "Missing required parameter(s): description"),
        (
            {"name": "p", "slots": 1, "description": "", "open": 1},
            "Unexpected parameter(s): open",
        ),
    ],
)
def test_create_pool_errors(
    exp: httpx.Client, admin_auth: Any, body: dict[str, Any], error: str
) -> None:
    response = exp.post("/pools", json=body, auth=admin_auth)
    assert (response.status_code, response.json()) == (400, {"error": error})


def test_delete_pool(exp: httpx.Client, admin_auth: Any) -> None:
    spare = exp.get("/pools/spare", auth=admin_auth).json()
    response = exp.delete("/pools/spare", auth=admin_auth)
    assert response.json() == spare
    assert exp.get("/pools/spare", auth=admin_auth).status_code == 404
    response = exp.delete("/pools/spare", auth=admin_auth)
    assert response.status_code == 404
    response = exp.delete("/pools/default_pool", auth=admin_auth)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "default_pool cannot be deleted"},
    )


# -- unknown routes while enabled -----------------------------------------------------------------


def test_unknown_route_while_enabled(exp: httpx.Client, admin_auth: Any) -> None:
    response = exp.get("/nothing", auth=admin_auth)
    assert response.status_code == 404
    assert "deprecation" not in response.headers
    assert exp.put("/test", auth=admin_auth).status_code == 405
