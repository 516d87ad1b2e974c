"""`/eventLogs`: every filter, ordering (including `when`), paging, single entries, the audit
rows the API writes itself, and who may read them (Audit Logs, plus the DAG when filtering on
one)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from aerovane.api.v1.datamodels.event_logs import EventLogCollectionResponse, EventLogResponse
from aerovane.auth.permissions import READ
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_role, add_user, count_queries
from tests.api.test_errors import assert_problem

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def _at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def logs(accounts: Any) -> list[int]:
    """Five rows, one minute apart, in insertion order."""
    rows = [
        models.EventLog(
            dttm=_at(0),
            event="cli_trigger",
            owner="alice",
            dag_id="etl",
            run_id="r1",
            extra='{"a": 1}',
        ),
        models.EventLog(
            dttm=_at(1),
            event="running",
            owner="bob",
            dag_id="etl",
            task_id="load",
            run_id="r1",
            map_index=0,
            try_number=1,
            execution_date=T0,
        ),
        models.EventLog(
            dttm=_at(2),
            event="success",
            owner="bob",
            dag_id="etl",
            task_id="load",
            run_id="r1",
            map_index=1,
            try_number=2,
        ),
        models.EventLog(
            dttm=_at(3),
            event="running",
            owner="carol",
            dag_id="other",
            task_id="load",
            run_id="r2",
            map_index=-1,
            try_number=1,
        ),
        models.EventLog(dttm=_at(4), event="api.post_pool", owner="admin"),
    ]
    with create_session() as session:
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    EventLogCollectionResponse.model_validate(response.json())
    return [e["event_log_id"] for e in response.json()["event_logs"]]


def test_list(client: httpx.Client, admin: httpx.BasicAuth, logs: list[int]) -> None:
    response = client.get("/eventLogs", auth=admin)
    assert _ids(response) == logs
    assert response.json()["total_entries"] == 5
    assert response.json()["event_logs"][1] == {
        "event_log_id": logs[1],
        "when": "2024-05-01T12:01:00+00:00",
        "dag_id": "etl",
        "task_id": "load",
        "run_id": "r1",
        "map_index": 0,
        "try_number": 1,
        "event": "running",
        "execution_date": "2024-05-01T12:00:00+00:00",
        "owner": "bob",
        "extra": None,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"dag_id": "etl"}, [0, 1, 2]),
        ({"task_id": "load"}, [1, 2, 3]),
        ({"run_id": "r2"}, [3]),
        ({"map_index": 0}, [1]),
        ({"map_index": -1}, [3]),
        ({"try_number": 1}, [1, 3]),
        ({"event": "running"}, [1, 3]),
        ({"owner": "bob"}, [1, 2]),
        ({"included_events": "running,success"}, [1, 2, 3]),
        ({"included_events": "running, api.post_pool"}, [1, 3, 4]),
        ({"excluded_events": "running,success"}, [0, 4]),
        ({"after": "2024-05-01T12:02:00Z"}, [3, 4]),
        ({"before": "2024-05-01T12:02:00+00:00"}, [0, 1]),
        ({"after": "2024-05-01T14:00:00+02:00", "before": "2024-05-01T12:03:00Z"}, [1, 2]),
        ({"dag_id": "etl", "owner": "bob", "try_number": 2}, [2]),
        ({"dag_id": "nope"}, []),
    ],
)
def test_filters(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    logs: list[int],
    params: dict[str, Any],
    expected: list[int],
) -> None:
    response = client.get("/eventLogs", params=params, auth=admin)
    assert _ids(response) == [logs[i] for i in expected]
    assert response.json()["total_entries"] == len(expected)


def test_bad_filters(client: httpx.Client, admin: httpx.BasicAuth, logs: list[int]) -> None:
    body = assert_problem(
        client.get("/eventLogs", params={"before": "yesterday"}, auth=admin),
        400,
        title="Incorrect datetime argument",
    )
    assert "'before'" in body["detail"]
    assert_problem(client.get("/eventLogs", params={"map_index": "x"}, auth=admin), 400)
    assert_problem(client.get("/eventLogs", params={"colour": "x"}, auth=admin), 400)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("when", [0, 1, 2, 3, 4]),
        ("-when", [4, 3, 2, 1, 0]),
        ("-event_log_id", [4, 3, 2, 1, 0]),
        ("owner", [4, 0, 1, 2, 3]),
        ("event", [4, 0, 1, 3, 2]),
    ],
)
def test_order_by(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    logs: list[int],
    order_by: str,
    expected: list[int],
) -> None:
    response = client.get("/eventLogs", params={"order_by": order_by}, auth=admin)
    assert _ids(response) == [logs[i] for i in expected]


def test_order_by_other_fields(
    client: httpx.Client, admin: httpx.BasicAuth, logs: list[int]
) -> None:
    for field in ("dag_id", "task_id", "run_id", "execution_date", "extra"):
        assert len(_ids(client.get("/eventLogs", params={"order_by": field}, auth=admin))) == 5
    assert_problem(client.get("/eventLogs", params={"order_by": "dttm"}, auth=admin), 400)


def test_paging(client: httpx.Client, admin: httpx.BasicAuth, logs: list[int]) -> None:
    response = client.get("/eventLogs", params={"limit": 2, "offset": 2}, auth=admin)
    assert _ids(response) == logs[2:4]
    assert response.json()["total_entries"] == 5
    with count_queries() as statements:
        client.get("/eventLogs", params={"limit": 2}, auth=admin)
    assert len([s for s in statements if " log" in s]) == 2  # the page and a COUNT


def test_get_one(client: httpx.Client, admin: httpx.BasicAuth, logs: list[int]) -> None:
    response = client.get(f"/eventLogs/{logs[0]}", auth=admin)
    assert response.status_code == 200
    body = EventLogResponse.model_validate(response.json())
    assert (body.event, body.owner, body.extra) == ("cli_trigger", "alice", '{"a": 1}')
    assert_problem(client.get("/eventLogs/999999", auth=admin), 404, title="Event Log not found")
    assert_problem(client.get("/eventLogs/abc", auth=admin), 400)


def test_api_writes_rows_it_can_read_back(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert client.post("/pools", json={"name": "p", "slots": 1}, auth=admin).status_code == 200
    response = client.get("/eventLogs", params={"event": "api.post_pool"}, auth=admin)
    (entry,) = response.json()["event_logs"]
    assert entry["owner"] == "admin"
    assert entry["dag_id"] is None


# -- who may read ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("path", ["/eventLogs", "/eventLogs/{id}"])
def test_default_roles(
    client: httpx.Client, accounts: Any, logs: list[int], path: str, role: str
) -> None:
    response = client.get(path.format(id=logs[0]), auth=accounts[role].auth)
    expected = 200 if role == "Admin" else 403
    assert response.status_code == expected, (path, role, response.text)


def test_filtering_on_a_dag_needs_read_on_it(client: httpx.Client, logs: list[int]) -> None:
    add_role("EtlAuditor", {(READ, "Audit Logs"), (READ, "DAG:etl")})
    auth = add_user("auditor", ["EtlAuditor"]).auth
    assert len(_ids(client.get("/eventLogs", auth=auth))) == 5
    assert _ids(client.get("/eventLogs", params={"dag_id": "etl"}, auth=auth)) == logs[:3]
    assert_problem(client.get("/eventLogs", params={"dag_id": "other"}, auth=auth), 403)
    add_role("DagReader", {(READ, "DAGs")})
    reader = add_user("reader", ["DagReader"]).auth
    assert_problem(client.get("/eventLogs", params={"dag_id": "etl"}, auth=reader), 403)


# -- the official client ---------------------------------------------------------------------------


def test_official_client(base_url: str, logs: list[int]) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.event_log_api import EventLogApi

    conf = client.Configuration(host=f"{base_url}/api/v1", username="admin", password="Admin-pw")
    with client.ApiClient(conf) as api:
        event_logs = EventLogApi(api)
        page = event_logs.get_event_logs(limit=2, order_by="-when", dag_id="etl")
        assert [e.event_log_id for e in page.event_logs] == [logs[2], logs[1]]
        assert page.total_entries == 3
        entry = event_logs.get_event_log(logs[4])
        assert (entry.event, entry.dag_id, entry.execution_date) == ("api.post_pool", None, None)


def test_numbers_out_of_range_are_400(
    client: httpx.Client, admin: httpx.BasicAuth, logs: list[int]
) -> None:
    for params in ({"map_index": 2**31}, {"try_number": -(2**31) - 1}, {"offset": 2**63}):
        assert_problem(client.get("/eventLogs", params=params, auth=admin), 400)
    assert_problem(client.get(f"/eventLogs/{2**40}", auth=admin), 400)
