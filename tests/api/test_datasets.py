"""Datasets: listing and getting datasets (with consuming DAGs and producing tasks), listing
events (with the runs they triggered) and creating them (queued for consumers, schedulers
woken), the queued-event endpoints of DAGs and datasets, URL-encoded URIs, and who may call
what."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from aerovane.api.v1.datamodels.datasets import (
    DatasetCollectionResponse,
    DatasetEventCollectionResponse,
    DatasetEventResponse,
    DatasetResponse,
    QueuedEventCollectionResponse,
    QueuedEventResponse,
)
from aerovane.auth.permissions import READ
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.scheduler.wakeup import Wakeup
from aerovane.services.datasets import ensure_datasets, register_event
from tests.api.conftest import add_dag, add_role, add_run, add_user, count_queries
from tests.api.test_errors import assert_problem

RAW = "s3://bucket/raw"
CLEAN = "s3://bucket/clean?format=parquet"
LONELY = "file:///tmp/lonely data.csv"
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def enc(uri: str) -> str:
    """A URI as a path segment (what clients send)."""
    return quote(uri, safe="")


@pytest.fixture
def world(accounts: Any) -> dict[str, int]:
    """RAW feeds `consumer` and `consumer2` and is produced by producer.extract; CLEAN is
    produced by producer.load; LONELY has no references. Ids follow URI order (LONELY first)."""
    for dag_id in ("producer", "consumer", "consumer2"):
        add_dag(dag_id)
    with create_session() as session:
        rows = ensure_datasets([RAW, CLEAN, LONELY], session=session)
        rows[CLEAN].extra = {"owner": "team-a"}
        session.add_all(
            [
                models.DagScheduleDatasetReference(dataset_id=rows[RAW].id, dag_id="consumer2"),
                models.DagScheduleDatasetReference(dataset_id=rows[RAW].id, dag_id="consumer"),
                models.TaskOutletDatasetReference(
                    dataset_id=rows[RAW].id, dag_id="producer", task_id="extract"
                ),
                models.TaskOutletDatasetReference(
                    dataset_id=rows[CLEAN].id, dag_id="producer", task_id="load"
                ),
            ]
        )
        return {uri: row.id for uri, row in rows.items()}


@pytest.fixture
def events(world: dict[str, int]) -> list[int]:
    """e0: RAW from producer.extract (triggered consumer's run c1), e1: CLEAN from producer.load
    map index 2, e2: RAW from outside any task. One minute apart. RAW is queued for both
    consumers."""
    add_run("producer", "r1", logical_date=T0)
    add_run("consumer", "c1", logical_date=T0, run_type="dataset_triggered", state="success")
    with create_session() as session:
        raw = session.get(models.DatasetModel, world[RAW])
        clean = session.get(models.DatasetModel, world[CLEAN])
        assert raw is not None and clean is not None
        made = [
            register_event(
                raw,
                source_dag_id="producer",
                source_task_id="extract",
                source_run_id="r1",
                source_map_index=-1,
                session=session,
            ),
            register_event(
                clean,
                extra={"rows": 5},
                source_dag_id="producer",
                source_task_id="load",
                source_run_id="r1",
                source_map_index=2,
                session=session,
            ),
            register_event(raw, extra={"manual": True}, session=session),
        ]
        for n, event in enumerate(made):
            event.timestamp = T0 + dt.timedelta(minutes=n)
        run = session.scalar(select(models.DagRun).where(models.DagRun.run_id == "c1"))
        assert run is not None
        session.add(models.DagRunDatasetEvent(dag_run_id=run.id, event_id=made[0].id))
        session.flush()
        return [event.id for event in made]


# -- datasets --------------------------------------------------------------------------------------


def _uris(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    DatasetCollectionResponse.model_validate(response.json())
    return [d["uri"] for d in response.json()["datasets"]]


def test_list_datasets(client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int]) -> None:
    response = client.get("/datasets", auth=admin)
    assert _uris(response) == [LONELY, CLEAN, RAW]
    assert response.json()["total_entries"] == 3
    raw = response.json()["datasets"][2]
    assert raw["id"] == world[RAW]
    assert raw["extra"] == {}
    assert raw["created_at"].endswith("+00:00") and raw["updated_at"].endswith("+00:00")
    assert [r["dag_id"] for r in raw["consuming_dags"]] == ["consumer", "consumer2"]
    assert set(raw["consuming_dags"][0]) == {"dag_id", "created_at", "updated_at"}
    assert [(r["dag_id"], r["task_id"]) for r in raw["producing_tasks"]] == [
        ("producer", "extract")
    ]
    clean = response.json()["datasets"][1]
    assert clean["extra"] == {"owner": "team-a"}
    assert clean["consuming_dags"] == []
    lonely = response.json()["datasets"][0]
    assert (lonely["consuming_dags"], lonely["producing_tasks"]) == ([], [])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"uri_pattern": "bucket"}, [CLEAN, RAW]),
        ({"uri_pattern": "CLEAN"}, [CLEAN]),
        ({"dag_ids": "consumer"}, [RAW]),
        ({"dag_ids": "producer"}, [CLEAN, RAW]),
        ({"dag_ids": "nope,consumer2"}, [RAW]),
        ({"dag_ids": "producer", "uri_pattern": "clean"}, [CLEAN]),
        ({"dag_ids": "nope"}, []),
        ({"order_by": "-uri"}, [RAW, CLEAN, LONELY]),
        ({"order_by": "-id"}, [RAW, CLEAN, LONELY]),
        ({"order_by": "created_at"}, None),
        ({"order_by": "-updated_at"}, None),
    ],
)
def test_list_datasets_filters_and_order(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    world: dict[str, int],
    params: dict[str, str],
    expected: list[str] | None,
) -> None:
    response = client.get("/datasets", params=params, auth=admin)
    uris = _uris(response)
    if expected is None:
        assert sorted(uris) == sorted([RAW, CLEAN, LONELY])
        return
    assert uris == expected
    assert response.json()["total_entries"] == len(expected)


def test_list_datasets_paging_and_errors(
    client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int]
) -> None:
    response = client.get("/datasets", params={"limit": 1, "offset": 1}, auth=admin)
    assert _uris(response) == [CLEAN]
    assert response.json()["total_entries"] == 3
    assert_problem(client.get("/datasets", params={"order_by": "extra"}, auth=admin), 400)
    assert_problem(client.get("/datasets", params={"limit": -1}, auth=admin), 400)


def test_list_datasets_query_count(
    client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int]
) -> None:
    with count_queries() as few:
        _uris(client.get("/datasets", params={"limit": 2}, auth=admin))
    with create_session() as session:
        ensure_datasets([f"s3://more/{n}" for n in range(20)], session=session)
    with count_queries() as many:
        assert len(_uris(client.get("/datasets", params={"limit": 10}, auth=admin))) == 10
    assert len(many) == len(few)


def test_get_dataset(client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int]) -> None:
    for uri in (RAW, CLEAN, LONELY):
        response = client.get(f"/datasets/{enc(uri)}", auth=admin)
        assert response.status_code == 200, (uri, response.text)
        body = DatasetResponse.model_validate(response.json())
        assert (body.uri, body.id) == (uri, world[uri])
    raw = client.get(f"/datasets/{enc(RAW)}", auth=admin).json()
    assert [r["dag_id"] for r in raw["consuming_dags"]] == ["consumer", "consumer2"]
    # Slashes need not be encoded.
    assert client.get("/datasets/s3:%2F%2Fbucket/raw", auth=admin).json()["uri"] == RAW
    assert_problem(
        client.get(f"/datasets/{enc('s3://nope')}", auth=admin),
        404,
        title="Dataset not found",
        detail="The Dataset with uri: `s3://nope` was not found",
    )


# -- events ----------------------------------------------------------------------------------------


def _event_ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    DatasetEventCollectionResponse.model_validate(response.json())
    return [e["id"] for e in response.json()["dataset_events"]]


def test_list_events(client: httpx.Client, admin: httpx.BasicAuth, events: list[int]) -> None:
    response = client.get("/datasets/events", auth=admin)
    assert _event_ids(response) == events
    assert response.json()["total_entries"] == 3
    first, second, third = response.json()["dataset_events"]
    assert first == {
        "id": events[0],
        "dataset_id": first["dataset_id"],
        "dataset_uri": RAW,
        "extra": {},
        "source_dag_id": "producer",
        "source_task_id": "extract",
        "source_run_id": "r1",
        "source_map_index": -1,
        "created_dagruns": [
            {
                "run_id": "c1",
                "dag_run_id": "c1",
                "dag_id": "consumer",
                "logical_date": "2024-05-01T12:00:00+00:00",
                "start_date": None,
                "end_date": None,
                "data_interval_start": first["created_dagruns"][0]["data_interval_start"],
                "data_interval_end": first["created_dagruns"][0]["data_interval_end"],
                "state": "success",
            }
        ],
        "timestamp": "2024-05-01T12:00:00+00:00",
    }
    assert (second["dataset_uri"], second["extra"], second["source_map_index"]) == (
        CLEAN,
        {"rows": 5},
        2,
    )
    assert second["created_dagruns"] == []
    assert (third["source_dag_id"], third["source_map_index"]) == (None, -1)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source_dag_id": "producer"}, [0, 1]),
        ({"source_task_id": "load"}, [1]),
        ({"source_run_id": "r1"}, [0, 1]),
        ({"source_map_index": 2}, [1]),
        ({"source_map_index": -1}, [0, 2]),
        ({"source_dag_id": "nope"}, []),
        ({"order_by": "-timestamp"}, [2, 1, 0]),
        ({"order_by": "source_task_id"}, None),
    ],
)
def test_list_events_filters_and_order(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    events: list[int],
    params: dict[str, Any],
    expected: list[int] | None,
) -> None:
    ids = _event_ids(client.get("/datasets/events", params=params, auth=admin))
    if expected is None:
        assert sorted(ids) == sorted(events)
    else:
        assert ids == [events[i] for i in expected]


def test_list_events_by_dataset(
    client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int], events: list[int]
) -> None:
    ids = _event_ids(client.get("/datasets/events", params={"dataset_id": world[RAW]}, auth=admin))
    assert ids == [events[0], events[2]]
    none = client.get("/datasets/events", params={"dataset_id": world[LONELY]}, auth=admin)
    assert none.json() == {"dataset_events": [], "total_entries": 0}


def test_list_events_paging_and_errors(
    client: httpx.Client, admin: httpx.BasicAuth, events: list[int]
) -> None:
    response = client.get("/datasets/events", params={"limit": 1, "offset": 1}, auth=admin)
    assert _event_ids(response) == [events[1]]
    assert response.json()["total_entries"] == 3
    assert_problem(client.get("/datasets/events", params={"order_by": "extra"}, auth=admin), 400)
    assert_problem(client.get("/datasets/events", params={"dataset_id": "x"}, auth=admin), 400)
    with count_queries() as statements:
        _event_ids(client.get("/datasets/events", params={"limit": 2}, auth=admin))
    assert len([s for s in statements if "dataset" in s]) == 3  # page, COUNT, triggered runs


def test_create_event(client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int]) -> None:
    wakeup = Wakeup()
    try:
        response = client.post(
            "/datasets/events", json={"dataset_uri": RAW, "extra": {"x": 1}}, auth=admin
        )
        assert response.status_code == 200, response.text
        assert wakeup.wait(5) is True
    finally:
        wakeup.close()
    body = DatasetEventResponse.model_validate(response.json())
    assert (body.dataset_uri, body.dataset_id) == (RAW, world[RAW])
    assert body.extra == {"x": 1, "from_rest_api": True}
    assert (body.source_dag_id, body.source_task_id, body.source_run_id) == (None, None, None)
    assert body.source_map_index == -1
    assert body.created_dagruns == []
    listed = client.get("/datasets/events", auth=admin).json()["dataset_events"]
    assert listed == [response.json()]
    queued = client.get(f"/datasets/queuedEvent/{enc(RAW)}", auth=admin).json()
    assert sorted(q["dag_id"] for q in queued["datasets"]) == ["consumer", "consumer2"]


def test_create_event_without_extra(
    client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int]
) -> None:
    for payload in ({"dataset_uri": CLEAN}, {"dataset_uri": CLEAN, "extra": None}):
        response = client.post("/datasets/events", json=payload, auth=admin)
        assert response.json()["extra"] == {"from_rest_api": True}


def test_create_event_errors(
    client: httpx.Client, admin: httpx.BasicAuth, world: dict[str, int]
) -> None:
    assert_problem(
        client.post("/datasets/events", json={"dataset_uri": "s3://nope"}, auth=admin),
        404,
        title="Dataset not found",
        detail="Dataset with uri: 's3://nope' not found",
    )
    for payload in ({}, {"dataset_uri": RAW, "extra": [1]}, {"dataset_uri": RAW, "colour": 1}):
        assert_problem(client.post("/datasets/events", json=payload, auth=admin), 400)
    assert client.get("/datasets/events", auth=admin).json()["total_entries"] == 0


def test_create_event_is_audited(
    client: httpx.Client, accounts: Any, world: dict[str, int]
) -> None:
    user = accounts["User"].auth
    assert client.post("/datasets/events", json={"dataset_uri": RAW}, auth=user).status_code == 200
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog)))
    assert [(r.event, r.owner) for r in rows] == [("api.create_dataset_event", "user")]


# -- queued events ---------------------------------------------------------------------------------


def _queued(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    body = QueuedEventCollectionResponse.model_validate(response.json())
    assert body.total_entries == len(body.datasets)
    return [(q.dag_id, q.uri) for q in body.datasets]


def test_dag_queued_events(client: httpx.Client, admin: httpx.BasicAuth, events: list[int]) -> None:
    response = client.get("/dags/consumer/datasets/queuedEvent", auth=admin)
    assert _queued(response) == [("consumer", RAW)]
    assert response.json()["datasets"][0]["created_at"].endswith("+00:00")
    one = client.get(f"/dags/consumer/datasets/queuedEvent/{enc(RAW)}", auth=admin)
    assert one.status_code == 200
    QueuedEventResponse.model_validate(one.json())
    assert one.json() == response.json()["datasets"][0]
    assert_problem(
        client.get("/dags/producer/datasets/queuedEvent", auth=admin),
        404,
        title="Queue event not found",
        detail="Queue event with dag_id: `producer` was not found",
    )
    assert_problem(
        client.get(f"/dags/consumer/datasets/queuedEvent/{enc(CLEAN)}", auth=admin),
        404,
        detail=f"Queue event with dag_id: `consumer` and dataset uri: `{CLEAN}` was not found",
    )


def test_before_filter(client: httpx.Client, admin: httpx.BasicAuth, events: list[int]) -> None:
    early = {"before": "2000-01-01T00:00:00Z"}
    late = {"before": "2999-01-01T00:00:00+00:00"}
    assert _queued(client.get("/dags/consumer/datasets/queuedEvent", params=late, auth=admin))
    for path in (
        "/dags/consumer/datasets/queuedEvent",
        f"/dags/consumer/datasets/queuedEvent/{enc(RAW)}",
        f"/datasets/queuedEvent/{enc(RAW)}",
    ):
        assert_problem(client.get(path, params=early, auth=admin), 404)
        assert_problem(client.delete(path, params=early, auth=admin), 404)
        assert_problem(client.get(path, params={"before": "soon"}, auth=admin), 400)
    assert len(_queued(client.get(f"/datasets/queuedEvent/{enc(RAW)}", auth=admin))) == 2


def test_dataset_queued_events(
    client: httpx.Client, admin: httpx.BasicAuth, events: list[int]
) -> None:
    response = client.get(f"/datasets/queuedEvent/{enc(RAW)}", auth=admin)
    assert _queued(response) == [("consumer", RAW), ("consumer2", RAW)]
    assert_problem(
        client.get(f"/datasets/queuedEvent/{enc(CLEAN)}", auth=admin),
        404,
        detail=f"Queue event with dataset uri: `{CLEAN}` was not found",
    )


def test_delete_one_dag_queued_event(
    client: httpx.Client, admin: httpx.BasicAuth, events: list[int]
) -> None:
    response = client.delete(f"/dags/consumer/datasets/queuedEvent/{enc(RAW)}", auth=admin)
    assert response.status_code == 204 and response.content == b""
    assert_problem(
        client.delete(f"/dags/consumer/datasets/queuedEvent/{enc(RAW)}", auth=admin), 404
    )
    assert _queued(client.get(f"/datasets/queuedEvent/{enc(RAW)}", auth=admin)) == [
        ("consumer2", RAW)
    ]


def test_delete_dag_queued_events(
    client: httpx.Client, admin: httpx.BasicAuth, events: list[int]
) -> None:
    assert client.delete("/dags/consumer2/datasets/queuedEvent", auth=admin).status_code == 204
    assert_problem(client.delete("/dags/consumer2/datasets/queuedEvent", auth=admin), 404)
    assert _queued(client.get("/dags/consumer/datasets/queuedEvent", auth=admin)) == [
        ("consumer", RAW)
    ]


def test_delete_dataset_queued_events(
    client: httpx.Client, accounts: Any, events: list[int]
) -> None:
    op = accounts["Op"].auth
    assert client.delete(f"/datasets/queuedEvent/{enc(RAW)}", auth=op).status_code == 204
    assert_problem(client.get(f"/datasets/queuedEvent/{enc(RAW)}", auth=op), 404)
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog)))
    assert [(r.event, r.owner) for r in rows] == [("api.delete_dataset_queued_events", "op")]


def test_per_dag_access_to_queued_events(client: httpx.Client, events: list[int]) -> None:
    add_role(
        "ConsumerOnly",
        {(READ, "Datasets"), (READ, "DAG:consumer"), ("can_delete", "Datasets")},
    )
    auth = add_user("consumer_only", ["ConsumerOnly"]).auth
    assert _queued(client.get(f"/datasets/queuedEvent/{enc(RAW)}", auth=auth)) == [
        ("consumer", RAW)
    ]
    assert _queued(client.get("/dags/consumer/datasets/queuedEvent", auth=auth))
    assert_problem(client.get("/dags/consumer2/datasets/queuedEvent", auth=auth), 403)
    assert_problem(client.delete("/dags/consumer2/datasets/queuedEvent", auth=auth), 403)
    # Deleting a dataset's queue only touches DAGs the caller may read.
    assert client.delete(f"/datasets/queuedEvent/{enc(RAW)}", auth=auth).status_code == 204
    assert_problem(client.delete(f"/datasets/queuedEvent/{enc(RAW)}", auth=auth), 404)
    with create_session(readonly=True) as session:
        left = session.scalars(select(models.DatasetDagRunQueue.target_dag_id)).all()
    assert left == ["consumer2"]


# -- who may call what -----------------------------------------------------------------------------


ALL = {"Admin", "Op", "User", "Viewer"}
MATRIX: dict[str, tuple[str, str, int, set[str]]] = {
    "get_datasets": ("GET", "/datasets", 200, ALL),
    "get_dataset": ("GET", f"/datasets/{enc(RAW)}", 200, ALL),
    "get_dataset_events": ("GET", "/datasets/events", 200, ALL),
    "create_dataset_event": ("POST", "/datasets/events", 200, {"Admin", "Op", "User"}),
    "get_dataset_queued_events": ("GET", f"/datasets/queuedEvent/{enc(RAW)}", 200, ALL),
    "delete_dataset_queued_events": (
        "DELETE",
        f"/datasets/queuedEvent/{enc(RAW)}",
        204,
        {"Admin", "Op"},
    ),
    "get_dag_dataset_queued_events": ("GET", "/dags/consumer/datasets/queuedEvent", 200, ALL),
    "delete_dag_dataset_queued_events": (
        "DELETE",
        "/dags/consumer/datasets/queuedEvent",
        204,
        {"Admin", "Op"},
    ),
    "get_dag_dataset_queued_event": (
        "GET",
        f"/dags/consumer/datasets/queuedEvent/{enc(RAW)}",
        200,
        ALL,
    ),
    "delete_dag_dataset_queued_event": (
        "DELETE",
        f"/dags/consumer/datasets/queuedEvent/{enc(RAW)}",
        204,
        {"Admin", "Op"},
    ),
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("operation", sorted(MATRIX))
def test_default_roles(
    client: httpx.Client, accounts: Any, events: list[int], operation: str, role: str
) -> None:
    method, path, status, allowed = MATRIX[operation]
    body = {"dataset_uri": RAW} if method == "POST" else None
    response = client.request(method, path, json=body, auth=accounts[role].auth)
    expected = status if role in allowed else 403
    assert response.status_code == expected, (operation, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"


def test_anonymous_is_401(client: httpx.Client, accounts: Any) -> None:
    assert_problem(client.get("/datasets"), 401)
    assert_problem(client.post("/datasets/events", json={"dataset_uri": RAW}), 401)


# -- the official client ---------------------------------------------------------------------------


def test_official_client(base_url: str, events: list[int]) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.dataset_api import DatasetApi
    from airflow_client.client.model.create_dataset_event import CreateDatasetEvent

    conf = client.Configuration(host=f"{base_url}/api/v1", username="op", password="Op-pw")
    with client.ApiClient(conf) as api:
        datasets = DatasetApi(api)
        assert [d.uri for d in datasets.get_datasets(uri_pattern="bucket").datasets] == [CLEAN, RAW]
        raw = datasets.get_dataset(RAW)
        assert [r.dag_id for r in raw.consuming_dags] == ["consumer", "consumer2"]
        listed = datasets.get_dataset_events(source_dag_id="producer")
        assert listed.dataset_events[0].created_dagruns[0].run_id == "c1"
        event = datasets.create_dataset_event(CreateDatasetEvent(dataset_uri=CLEAN, extra={"a": 1}))
        assert event.dataset_uri == CLEAN
        queued = datasets.get_dataset_queued_events(RAW)
        assert sorted(q.dag_id for q in queued.datasets) == ["consumer", "consumer2"]
        assert datasets.get_dag_dataset_queued_event("consumer", RAW).uri == RAW
        assert len(datasets.get_dag_dataset_queued_events("consumer").datasets) == 1
        datasets.delete_dag_dataset_queued_event("consumer", RAW)
        datasets.delete_dag_dataset_queued_events("consumer2")
        datasets.create_dataset_event(CreateDatasetEvent(dataset_uri=RAW))
        datasets.delete_dataset_queued_events(RAW)
