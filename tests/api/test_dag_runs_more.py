"""DAG runs beyond list/trigger/get: the batch list, delete, marking a run's state, clearing,
notes, upstream dataset events, and triggers that never trip a client (Idempotency-Key,
concurrent triggers)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from aerovane.api.v1.datamodels.dag_runs import (
    DAGRunCollectionResponse,
    DAGRunResponse,
    DatasetEventCollectionResponse,
    TaskInstanceReferenceCollection,
)
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.authoring import DAG, EmptyOperator
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.executors.base import TaskKey
from aerovane.runtime.task_runner import finish
from aerovane.scheduler.wakeup import Wakeup
from aerovane.states import TaskState
from tests.api.conftest import add_dag, add_role, add_run, add_user, count_queries, update_ti
from tests.api.test_dags_more import store_dags
from tests.api.test_errors import assert_problem

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 2, tzinfo=UTC)
D3 = dt.datetime(2024, 3, 3, tzinfo=UTC)


@pytest.fixture
def runs(accounts: Any) -> None:
    add_dag("etl")
    add_dag("other")
    add_run(
        "etl",
        "run_a",
        logical_date=D1,
        state="success",
        start_date=D1,
        end_date=D1 + dt.timedelta(hours=1),
    )
    add_run(
        "etl",
        "run_b",
        logical_date=D2,
        state="failed",
        start_date=D2,
        end_date=D2 + dt.timedelta(hours=2),
    )
    add_run("etl", "run_c", logical_date=D3, state="running", start_date=D3)
    add_run("other", "run_o", logical_date=D1, state="queued")


@pytest.fixture
def work(accounts: Any, tmp_path: Path) -> str:
    """A DAG whose tasks have retries: a (2 retries) >> b >> c >> d >> e >> f."""
    with DAG("work", schedule=None, start_date=D1, auto_register=False) as dag:
        previous = None
        for task_id, retries in (("a", 2), ("b", 1), ("c", 0), ("d", 0), ("e", 0), ("f", 0)):
            op = EmptyOperator(task_id=task_id, retries=retries)
            if previous is not None:
                previous >> op
            previous = op
    store_dags(tmp_path / "dags" / "work.py", dag)
    add_run("work", "w1", logical_date=D1, state="running", start_date=D1)
    return "work"


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    DAGRunCollectionResponse.model_validate(response.json())
    return [r["dag_run_id"] for r in response.json()["dag_runs"]]


def _run(dag_id: str, run_id: str) -> models.DagRun:
    with create_session(readonly=True) as session:
        run = session.scalar(
            select(models.DagRun).where(
                models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
            )
        )
        assert run is not None
        return run


def _tis(dag_id: str, run_id: str) -> dict[str, models.TaskInstance]:
    with create_session(readonly=True) as session:
        rows = session.scalars(
            select(models.TaskInstance).where(
                models.TaskInstance.dag_id == dag_id, models.TaskInstance.run_id == run_id
            )
        )
        return {ti.task_id: ti for ti in rows}


def _events() -> list[str]:
    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.EventLog.event).order_by(models.EventLog.id)))


# -- POST /dags/~/dagRuns/list --------------------------------------------------------------------


def test_batch_list(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    def ids(**body: Any) -> list[str]:
        return _ids(client.post("/dags/~/dagRuns/list", json=body, auth=admin))

    assert ids() == ["run_a", "run_b", "run_c", "run_o"]
    assert ids(dag_ids=["other"]) == ["run_o"]
    assert ids(dag_ids=["other", "nope"]) == ["run_o"]
    assert ids(states=["failed", "queued"]) == ["run_b", "run_o"]
    assert ids(execution_date_gte="2024-03-02T00:00:00Z") == ["run_b", "run_c"]
    assert ids(execution_date_lte="2024-03-01T00:00:00+00:00") == ["run_a", "run_o"]
    assert ids(start_date_gte="2024-03-02T00:00:00Z", start_date_lte="2024-03-02T12:00:00Z") == [
        "run_b"
    ]
    assert ids(end_date_gte="2024-03-02T01:30:00Z") == ["run_b"]
    assert ids(end_date_lte="2024-03-02T00:00:00Z") == ["run_a"]
    # Accepted, and (as on Airflow's server) not applied.
    assert ids(updated_at_lte="2000-01-01T00:00:00Z") == ["run_a", "run_b", "run_c", "run_o"]
    assert ids(order_by="-execution_date", dag_ids=["etl"]) == ["run_c", "run_b", "run_a"]
    assert ids(order_by="dag_run_id") == ["run_a", "run_b", "run_c", "run_o"]
    response = client.post(
        "/dags/~/dagRuns/list", json={"page_offset": 1, "page_limit": 2}, auth=admin
    )
    assert _ids(response) == ["run_b", "run_c"]
    assert response.json()["total_entries"] == 4


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"page_limit": 0}, "page_limit"),
        ({"page_offset": -1}, "page_offset"),
        ({"execution_date_gte": "2024-03-02T00:00:00"}, "Naive datetime is disallowed"),
        ({"start_date_lte": "tomorrow"}, "start_date_lte"),
        ({"dag_ids": "etl"}, "dag_ids"),
        ({"colour": "red"}, "colour"),
        ({"order_by": "note"}, "Ordering with 'note' is disallowed"),
    ],
)
def test_batch_list_bad_bodies(
    client: httpx.Client, admin: httpx.BasicAuth, runs: None, body: dict[str, Any], fragment: str
) -> None:
    problem = assert_problem(client.post("/dags/~/dagRuns/list", json=body, auth=admin), 400)
    assert fragment in problem["detail"]


def test_batch_list_is_only_for_tilde(
    client: httpx.Client, admin: httpx.BasicAuth, runs: None
) -> None:
    assert client.post("/dags/etl/dagRuns/list", json={}, auth=admin).status_code in (404, 405)


def test_batch_list_filters_by_readable_dags(client: httpx.Client, runs: None) -> None:
    add_role("EtlRuns", {(READ, "DAG:etl"), (READ, "DAG Runs")})
    auth = add_user("etl_runs", ["EtlRuns"]).auth
    response = client.post("/dags/~/dagRuns/list", json={}, auth=auth)
    assert _ids(response) == ["run_a", "run_b", "run_c"]
    response = client.post("/dags/~/dagRuns/list", json={"dag_ids": ["other"]}, auth=auth)
    assert _ids(response) == []
    # Without the global DAG Runs permission the batch form is refused, as in Airflow.
    add_role("EtlRunsOnly", {(READ, "DAG:etl"), (READ, "DAG Run:etl")})
    narrow = add_user("etl_runs_only", ["EtlRunsOnly"]).auth
    assert client.post("/dags/~/dagRuns/list", json={}, auth=narrow).status_code == 403


def test_batch_list_query_count(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    with count_queries() as few:
        _ids(client.post("/dags/~/dagRuns/list", json={"page_limit": 10}, auth=admin))
    for day in range(4, 20):
        add_run("etl", f"r{day}", logical_date=D1 + dt.timedelta(days=day))
    with count_queries() as many:
        response = client.post("/dags/~/dagRuns/list", json={"page_limit": 10}, auth=admin)
    assert len(_ids(response)) == 10
    assert len(many) <= len(few) + 1  # + COUNT, as the page is full


# -- DELETE ---------------------------------------------------------------------------------------


def test_delete_run(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    update_ti("etl", "run_b", "extract", try_number=1, state="failed")
    response = client.delete("/dags/etl/dagRuns/run_b", auth=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_problem(client.get("/dags/etl/dagRuns/run_b", auth=admin), 404)
    assert _tis("etl", "run_b") == {}
    assert len(_tis("etl", "run_a")) == 2
    assert_problem(
        client.delete("/dags/etl/dagRuns/run_b", auth=admin),
        404,
        title="Not Found",
        detail="DAGRun with DAG ID: 'etl' and DagRun ID: 'run_b' not found",
    )
    assert _events() == ["api.delete_dag_run", "api.delete_dag_run"]


# -- PATCH state ----------------------------------------------------------------------------------


def _set_states(states: dict[str, str | None], *, try_number: int = 1) -> None:
    for task_id, state in states.items():
        update_ti("work", "w1", task_id, state=state, try_number=try_number if state else 0)


def test_mark_run_success(client: httpx.Client, admin: httpx.BasicAuth, work: str) -> None:
    _set_states(
        {"a": "success", "b": "failed", "c": "running", "d": "queued", "e": "skipped", "f": None}
    )
    response = client.patch("/dags/work/dagRuns/w1", json={"state": "success"}, auth=admin)
    assert response.status_code == 200, response.text
    body = DAGRunResponse.model_validate(response.json())
    assert body.state == "success"
    assert body.end_date is not None
    tis = _tis("work", "w1")
    # Like Airflow's set_dag_run_state_to_success: every task instance, failed ones too.
    assert {t: ti.state for t, ti in tis.items()} == dict.fromkeys("abcdef", "success")
    changed = [tis[t] for t in "bcdef"]
    assert all(ti.end_date is not None and ti.duration is not None for ti in changed)
    assert tis["a"].end_date is None  # already successful: untouched
    assert _events() == ["api.update_dag_run_state"]


def test_mark_run_failed(client: httpx.Client, admin: httpx.BasicAuth, work: str) -> None:
    _set_states(
        {
            "a": "success",
            "b": "running",
            "c": "queued",
            "d": "scheduled",
            "e": "up_for_retry",
            "f": None,
        }
    )
    response = client.patch("/dags/work/dagRuns/w1", json={"state": "failed"}, auth=admin)
    assert response.json()["state"] == "failed"
    assert {t: ti.state for t, ti in _tis("work", "w1").items()} == {
        "a": "success",
        "b": "failed",
        "c": "skipped",
        "d": "skipped",
        "e": "skipped",
        "f": "skipped",
    }


def test_marking_stops_the_running_attempt(
    client: httpx.Client, admin: httpx.BasicAuth, work: str
) -> None:
    """The task process cannot record its outcome over the new state; its heartbeat (the same
    guarded update) sees the change and terminates it."""
    _set_states({"b": "running"})
    assert (
        client.patch("/dags/work/dagRuns/w1", json={"state": "failed"}, auth=admin).status_code
        == 200
    )
    key = TaskKey("work", "b", "w1", -1, 1)
    assert finish(key, TaskState.SUCCESS, started=D1) is False
    assert _tis("work", "w1")["b"].state == "failed"


def test_mark_run_queued(client: httpx.Client, admin: httpx.BasicAuth, work: str) -> None:
    _set_states({"a": "success", "b": "failed"})
    client.patch("/dags/work/dagRuns/w1", json={"state": "failed"}, auth=admin)
    before = _tis("work", "w1")
    wakeup = Wakeup()
    try:
        response = client.patch("/dags/work/dagRuns/w1", json={"state": "queued"}, auth=admin)
        assert wakeup.wait(5) is True
    finally:
        wakeup.close()
    body = response.json()
    assert body["state"] == "queued"
    assert body["start_date"] is None and body["end_date"] is None
    after = _tis("work", "w1")
    assert {t: ti.state for t, ti in after.items()} == {t: ti.state for t, ti in before.items()}
    assert _run("work", "w1").queued_at is not None


def test_mark_run_errors(client: httpx.Client, admin: httpx.BasicAuth, work: str) -> None:
    assert_problem(
        client.patch("/dags/work/dagRuns/nope", json={"state": "success"}, auth=admin),
        404,
        title="Dag Run id nope not found in dag work",
        detail=None,
    )
    for payload in ({"state": "running"}, {}, {"state": "success", "note": "x"}):
        assert_problem(client.patch("/dags/work/dagRuns/w1", json=payload, auth=admin), 400)
    assert _run("work", "w1").state == "running"


# -- clear ----------------------------------------------------------------------------------------


def test_clear_dry_run(client: httpx.Client, admin: httpx.BasicAuth, work: str) -> None:
    _set_states({"a": "success", "b": "failed"})
    for payload in ({}, {"dry_run": True}):
        response = client.post("/dags/work/dagRuns/w1/clear", json=payload, auth=admin)
        assert response.status_code == 200, response.text
        body = TaskInstanceReferenceCollection.model_validate(response.json())
        assert [ref.task_id for ref in body.task_instances] == list("abcdef")
        assert response.json()["task_instances"][0] == {
            "task_id": "a",
            "dag_id": "work",
            "execution_date": "2024-03-01T00:00:00+00:00",
            "dag_run_id": "w1",
        }
    assert _tis("work", "w1")["b"].state == "failed"
    assert _run("work", "w1").state == "running"


def test_clear_run(client: httpx.Client, admin: httpx.BasicAuth, work: str) -> None:
    _set_states({"a": "success", "b": "failed", "c": "upstream_failed"})
    update_ti("work", "w1", "a", try_number=3, max_tries=2, start_date=D1, end_date=D1)
    with create_session() as session:
        run = session.scalar(select(models.DagRun).where(models.DagRun.run_id == "w1"))
        assert run is not None
        run.state, run.end_date = "failed", D2
    wakeup = Wakeup()
    try:
        response = client.post("/dags/work/dagRuns/w1/clear", json={"dry_run": False}, auth=admin)
        assert wakeup.wait(5) is True
    finally:
        wakeup.close()
    assert response.status_code == 200, response.text
    body = DAGRunResponse.model_validate(response.json())
    assert body.state == "queued"
    assert body.start_date is None and body.end_date is None
    run = _run("work", "w1")
    assert run.clear_number == 1
    tis = _tis("work", "w1")
    assert all(ti.state is None for ti in tis.values())
    # try_number is kept; max_tries gives each task its retries again.
    assert (tis["a"].try_number, tis["a"].max_tries) == (3, 5)
    assert (tis["b"].try_number, tis["b"].max_tries) == (1, 2)
    assert (tis["d"].try_number, tis["d"].max_tries) == (0, 0)
    # The finished attempts stay in the try history.
    with create_session(readonly=True) as session:
        history = {
            (h.task_id, h.try_number): h.state
            for h in session.scalars(select(models.TaskInstanceHistory))
        }
    assert history == {("a", 3): "success", ("b", 1): "failed", ("c", 1): "upstream_failed"}
    client.post("/dags/work/dagRuns/w1/clear", json={"dry_run": False}, auth=admin)
    assert _run("work", "w1").clear_number == 2
    with create_session(readonly=True) as session:
        count = session.scalar(select(func.count()).select_from(models.TaskInstanceHistory))
    assert count == 3
    assert _events() == ["api.clear_dag_run", "api.clear_dag_run"]


def test_clear_stops_running_attempts(
    client: httpx.Client, admin: httpx.BasicAuth, work: str
) -> None:
    _set_states({"a": "running"})
    client.post("/dags/work/dagRuns/w1/clear", json={"dry_run": False}, auth=admin)
    assert finish(TaskKey("work", "a", "w1", -1, 1), TaskState.SUCCESS, started=D1) is False
    assert _tis("work", "w1")["a"].state is None


def test_clear_errors(client: httpx.Client, admin: httpx.BasicAuth, work: str) -> None:
    assert_problem(
        client.post("/dags/work/dagRuns/nope/clear", json={"dry_run": False}, auth=admin),
        404,
        title="Dag Run id nope not found in dag work",
    )
    assert_problem(
        client.post("/dags/work/dagRuns/w1/clear", json={"dry_run": "perhaps"}, auth=admin), 400
    )
    assert_problem(client.post("/dags/work/dagRuns/w1/clear", auth=admin), 400)


# -- setNote --------------------------------------------------------------------------------------


def test_set_note(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    response = client.patch(
        "/dags/etl/dagRuns/run_a/setNote", json={"note": "looked fine"}, auth=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["note"] == "looked fine"
    assert client.get("/dags/etl/dagRuns/run_a", auth=admin).json()["note"] == "looked fine"
    # The spec's `note` is a string, not nullable: Airflow refuses null before reading it.
    assert_problem(
        client.patch("/dags/etl/dagRuns/run_a/setNote", json={"note": None}, auth=admin), 400
    )
    response = client.patch("/dags/etl/dagRuns/run_a/setNote", json={"note": ""}, auth=admin)
    assert response.json()["note"] == ""
    assert_problem(
        client.patch("/dags/etl/dagRuns/run_a/setNote", json={"note": "x" * 1001}, auth=admin),
        400,
    )
    assert_problem(client.patch("/dags/etl/dagRuns/run_a/setNote", json={}, auth=admin), 400)
    assert_problem(
        client.patch("/dags/etl/dagRuns/nope/setNote", json={"note": "x"}, auth=admin),
        404,
        title="Dag Run id nope not found in dag etl",
    )
    assert _events().count("api.set_dag_run_note") == 6


# -- upstreamDatasetEvents ------------------------------------------------------------------------


@pytest.fixture
def dataset_run(runs: None) -> None:
    add_run("etl", "ds_run", logical_date=D3 + dt.timedelta(days=1), run_type="dataset_triggered")
    with create_session() as session:
        dataset = models.DatasetModel(uri="s3://bucket/x", extra={})
        session.add(dataset)
        session.flush()
        events = [
            models.DatasetEvent(
                dataset_id=dataset.id,
                extra={"n": n},
                source_dag_id="other",
                source_task_id="t",
                source_run_id="run_o",
                source_map_index=-1,
                timestamp=D1 + dt.timedelta(minutes=n),
            )
            for n in (2, 1)
        ]
        session.add_all(events)
        session.flush()
        runs_by_id = {
            r.run_id: r.id
            for r in session.scalars(select(models.DagRun).where(models.DagRun.dag_id == "etl"))
        }
        session.add_all(
            models.DagRunDatasetEvent(dag_run_id=runs_by_id[run_id], event_id=event.id)
            for run_id, event in (
                ("ds_run", events[0]),
                ("ds_run", events[1]),
                ("run_c", events[1]),
            )
        )


def test_upstream_dataset_events(
    client: httpx.Client, admin: httpx.BasicAuth, dataset_run: None
) -> None:
    response = client.get("/dags/etl/dagRuns/ds_run/upstreamDatasetEvents", auth=admin)
    assert response.status_code == 200, response.text
    body = DatasetEventCollectionResponse.model_validate(response.json())
    assert body.total_entries == 2
    first, second = response.json()["dataset_events"]
    assert first["extra"] == {"n": 1}
    assert first["dataset_uri"] == "s3://bucket/x"
    assert first["timestamp"] == "2024-03-01T00:01:00+00:00"
    assert (first["source_dag_id"], first["source_task_id"], first["source_run_id"]) == (
        "other",
        "t",
        "run_o",
    )
    assert first["source_map_index"] == -1
    assert [r["dag_run_id"] for r in first["created_dagruns"]] == ["run_c", "ds_run"]
    assert first["created_dagruns"][0] == {
        "dag_run_id": "run_c",
        "dag_id": "etl",
        "logical_date": "2024-03-03T00:00:00+00:00",
        "start_date": "2024-03-03T00:00:00+00:00",
        "end_date": None,
        "state": "running",
        "data_interval_start": first["created_dagruns"][0]["data_interval_start"],
        "data_interval_end": first["created_dagruns"][0]["data_interval_end"],
    }
    assert [r["dag_run_id"] for r in second["created_dagruns"]] == ["ds_run"]
    empty = client.get("/dags/etl/dagRuns/run_a/upstreamDatasetEvents", auth=admin)
    assert empty.json() == {"dataset_events": [], "total_entries": 0}
    assert_problem(
        client.get("/dags/etl/dagRuns/nope/upstreamDatasetEvents", auth=admin),
        404,
        title="DAGRun not found",
    )


def test_upstream_dataset_events_need_datasets_read(
    client: httpx.Client, dataset_run: None
) -> None:
    add_role("RunsNoDatasets", {(READ, "DAGs"), (READ, "DAG Runs")})
    auth = add_user("runs_no_datasets", ["RunsNoDatasets"]).auth
    url = "/dags/etl/dagRuns/ds_run/upstreamDatasetEvents"
    assert client.get(url, auth=auth).status_code == 403
    add_role("RunsNoDatasets", {(READ, "Datasets")})
    assert client.get(url, auth=auth).status_code == 200


def test_upstream_dataset_events_query_count(
    client: httpx.Client, admin: httpx.BasicAuth, dataset_run: None
) -> None:
    url = "/dags/etl/dagRuns/ds_run/upstreamDatasetEvents"
    with count_queries() as two_events:
        client.get(url, auth=admin)
    with create_session() as session:
        run_id = session.scalar(select(models.DagRun.id).where(models.DagRun.run_id == "ds_run"))
        dataset_id = session.scalar(select(models.DatasetModel.id))
        assert run_id is not None and dataset_id is not None
        for n in range(10):
            event = models.DatasetEvent(dataset_id=dataset_id, extra={}, timestamp=D2)
            session.add(event)
            session.flush()
            session.add(models.DagRunDatasetEvent(dag_run_id=run_id, event_id=event.id))
    with count_queries() as twelve_events:
        assert client.get(url, auth=admin).json()["total_entries"] == 12
    assert len(twelve_events) == len(two_events)


# -- Idempotency-Key ------------------------------------------------------------------------------


@pytest.fixture
def etl(accounts: Any) -> str:
    add_dag("etl")
    return "etl"


def _runs_of(dag_id: str) -> list[models.DagRun]:
    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.DagRun).where(models.DagRun.dag_id == dag_id)))


def test_idempotent_trigger_returns_the_same_run(
    client: httpx.Client, admin: httpx.BasicAuth, etl: str
) -> None:
    headers = {"Idempotency-Key": "job-42"}
    first = client.post("/dags/etl/dagRuns", json={"conf": {"a": 1}}, headers=headers, auth=admin)
    assert first.status_code == 200, first.text
    again = client.post("/dags/etl/dagRuns", json={"conf": {"a": 1}}, headers=headers, auth=admin)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    runs = _runs_of("etl")
    assert [(r.run_id, r.idempotency_key) for r in runs] == [(first.json()["dag_run_id"], "job-42")]
    # Another key, or none, is another run.
    other = client.post(
        "/dags/etl/dagRuns",
        json={"conf": {"a": 1}},
        headers={"Idempotency-Key": "job-43"},
        auth=admin,
    )
    assert other.json()["dag_run_id"] != first.json()["dag_run_id"]
    client.post("/dags/etl/dagRuns", json={"conf": {"a": 1}}, auth=admin)
    assert len(_runs_of("etl")) == 3


def test_idempotent_trigger_with_explicit_ids(
    client: httpx.Client, admin: httpx.BasicAuth, etl: str
) -> None:
    headers = {"Idempotency-Key": "k"}
    payload = {"dag_run_id": "nightly", "logical_date": "2024-06-01T00:00:00Z", "conf": {}}
    first = client.post("/dags/etl/dagRuns", json=payload, headers=headers, auth=admin)
    assert first.status_code == 200
    # Equivalent spellings of the same request are the same request.
    same = {"dag_run_id": "nightly", "execution_date": "2024-06-01T02:00:00+02:00"}
    again = client.post("/dags/etl/dagRuns", json=same, headers=headers, auth=admin)
    assert again.status_code == 200
    assert again.json()["dag_run_id"] == "nightly"
    # Without the key the duplicate id is a real conflict.
    assert_problem(client.post("/dags/etl/dagRuns", json=payload, auth=admin), 409)


@pytest.mark.parametrize(
    "payload",
    [
        {"conf": {"a": 2}},
        {"conf": {"a": 1}, "dag_run_id": "elsewhere"},
        {"conf": {"a": 1}, "logical_date": "2030-01-01T00:00:00Z"},
        {
            "conf": {"a": 1},
            "data_interval_start": "2020-01-01T00:00:00Z",
            "data_interval_end": "2020-01-02T00:00:00Z",
        },
    ],
)
def test_idempotency_key_reused_with_another_request(
    client: httpx.Client, admin: httpx.BasicAuth, etl: str, payload: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "job-1"}
    assert (
        client.post(
            "/dags/etl/dagRuns", json={"conf": {"a": 1}}, headers=headers, auth=admin
        ).status_code
        == 200
    )
    assert_problem(
        client.post("/dags/etl/dagRuns", json=payload, headers=headers, auth=admin),
        409,
        detail="Idempotency-Key reused with a different request",
    )
    assert len(_runs_of("etl")) == 1


def test_idempotency_key_is_per_dag(client: httpx.Client, admin: httpx.BasicAuth, etl: str) -> None:
    add_dag("other")
    headers = {"Idempotency-Key": "shared"}
    a = client.post("/dags/etl/dagRuns", json={}, headers=headers, auth=admin)
    b = client.post("/dags/other/dagRuns", json={}, headers=headers, auth=admin)
    assert a.status_code == b.status_code == 200
    assert (a.json()["dag_id"], b.json()["dag_id"]) == ("etl", "other")


def test_idempotency_key_limits(client: httpx.Client, admin: httpx.BasicAuth, etl: str) -> None:
    for key in ("", "k" * 256):
        assert_problem(
            client.post("/dags/etl/dagRuns", json={}, headers={"Idempotency-Key": key}, auth=admin),
            400,
        )
    ok = client.post(
        "/dags/etl/dagRuns", json={}, headers={"Idempotency-Key": "k" * 255}, auth=admin
    )
    assert ok.status_code == 200
    assert _runs_of("etl") and len(_runs_of("etl")) == 1


def test_concurrent_retries_with_one_key_make_one_run(
    client: httpx.Client, admin: httpx.BasicAuth, etl: str
) -> None:
    def trigger(_: int) -> httpx.Response:
        return client.post(
            "/dags/etl/dagRuns",
            json={"conf": {"x": 1}},
            headers={"Idempotency-Key": "burst"},
            auth=admin,
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(trigger, range(10)))
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert len({r.json()["dag_run_id"] for r in responses}) == 1
    assert len(_runs_of("etl")) == 1


def test_fifty_concurrent_triggers_make_fifty_runs(
    client: httpx.Client, admin: httpx.BasicAuth, etl: str
) -> None:
    def trigger(_: int) -> httpx.Response:
        return client.post("/dags/etl/dagRuns", json={}, auth=admin)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(trigger, range(50)))
    assert [r.status_code for r in responses] == [200] * 50, [
        r.text for r in responses if r.status_code != 200
    ]
    run_ids = {r.json()["dag_run_id"] for r in responses}
    assert len(run_ids) == 50
    assert {r.run_id for r in _runs_of("etl")} == run_ids
    with create_session(readonly=True) as session:
        count = session.scalar(
            select(func.count())
            .select_from(models.TaskInstance)
            .where(models.TaskInstance.dag_id == "etl")
        )
    assert count == 100


# -- authorization --------------------------------------------------------------------------------

ALL = {"Admin", "Op", "User", "Viewer"}
WRITERS = {"Admin", "Op", "User"}


def _call(client: httpx.Client, endpoint: str, auth: Any) -> httpx.Response:
    base = "/dags/etl/dagRuns"
    if endpoint == "get_dag_runs_batch":
        return client.post("/dags/~/dagRuns/list", json={}, auth=auth)
    if endpoint == "delete_dag_run":
        return client.delete(f"{base}/run_b", auth=auth)
    if endpoint == "update_dag_run_state":
        return client.patch(f"{base}/run_b", json={"state": "success"}, auth=auth)
    if endpoint == "clear_dag_run":
        return client.post(f"{base}/run_b/clear", json={"dry_run": False}, auth=auth)
    if endpoint == "set_dag_run_note":
        return client.patch(f"{base}/run_b/setNote", json={"note": "n"}, auth=auth)
    if endpoint == "get_upstream_dataset_events":
        return client.get(f"{base}/run_b/upstreamDatasetEvents", auth=auth)
    raise AssertionError(endpoint)


MATRIX = {
    "get_dag_runs_batch": (ALL, 200),
    "delete_dag_run": (WRITERS, 204),
    "update_dag_run_state": (WRITERS, 200),
    "clear_dag_run": (WRITERS, 200),
    "set_dag_run_note": (WRITERS, 200),
    "get_upstream_dataset_events": (ALL, 200),
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_default_roles(
    client: httpx.Client, accounts: Any, runs: None, endpoint: str, role: str
) -> None:
    allowed, success = MATRIX[endpoint]
    response = _call(client, endpoint, accounts[role].auth)
    expected = success if role in allowed else 403
    assert response.status_code == expected, (endpoint, role, response.text)
    if expected == 403:
        assert _events() == []


def test_anonymous_is_unauthenticated(client: httpx.Client, runs: None) -> None:
    for endpoint in MATRIX:
        assert _call(client, endpoint, None).status_code == 401, endpoint


def test_per_dag_run_grants(client: httpx.Client, runs: None) -> None:
    add_role(
        "EtlRunEditor",
        {
            (READ, "DAG:etl"),
            (EDIT, "DAG:etl"),
            (READ, "DAG Run:etl"),
            (DELETE, "DAG Run:etl"),
            (CREATE, "DAG Run:etl"),
        },
    )
    auth = add_user("etl_run_editor", ["EtlRunEditor"]).auth
    assert client.delete("/dags/etl/dagRuns/run_a", auth=auth).status_code == 204
    assert client.delete("/dags/other/dagRuns/run_o", auth=auth).status_code == 403
    # Editing a run needs `can_edit` on DAG Runs, which this role lacks.
    assert (
        client.patch("/dags/etl/dagRuns/run_b", json={"state": "success"}, auth=auth).status_code
        == 403
    )


# -- the engine end to end ------------------------------------------------------------------------
# A real `aerovane scheduler` (with its DAG processor) over its own home; these tests come last in
# the module because the module-scoped home replaces the per-test one.

ENGINE_DAGS = """
import datetime
from aerovane.authoring import DAG, BashOperator

START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
MARK = {marker!r}

with DAG("flaky", schedule=None, start_date=START, catchup=False):
    BashOperator(task_id="work", bash_command=f"test -f {{MARK}}/fixed")

with DAG("sleepy", schedule=None, start_date=START, catchup=False):
    BashOperator(
        task_id="nap",
        bash_command=(
            f"if [ -f {{MARK}}/napped ]; then exit 0; fi; touch {{MARK}}/napped; "
            f"touch {{MARK}}/napping; sleep 60"
        ),
    )

with DAG("stuck", schedule=None, start_date=START, catchup=False):
    BashOperator(task_id="wait", bash_command=f"touch {{MARK}}/waiting; sleep 60")
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The scheduler parses a file only when it changes or is asked to (min interval 1 h), and
    task processes heartbeat every 0.2 s so outside changes stop them quickly."""
    import os
    import signal
    import subprocess
    import sys

    from aerovane.config import ensure_home, reload_settings
    from aerovane.db.engine import dispose_engines
    from aerovane.db.migrate import migrate
    from tests.conftest import PG_URL
    from tests.engine.conftest import Engine

    home = tmp_path_factory.mktemp("runs_engine") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AEROVANE__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.2",
        AEROVANE__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="3600",
        AEROVANE__SCHEDULER__TASK_HEARTBEAT_SEC="0.2",
    )
    if PG_URL:
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = PG_URL
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("AEROVANE__", "AIRFLOW__")):
                mp.delenv(key)
        for key, value in env.items():
            if key.startswith("AEROVANE"):
                mp.setenv(key, value)
        dispose_engines()
        reload_settings()
        settings = ensure_home()
        if PG_URL:
            from tests.conftest import _reset_postgres

            _reset_postgres()
        else:
            migrate()
        eng = Engine(home=home, dags=settings.dags_folder, env=env)
        marks = home / "marks"
        marks.mkdir()
        (eng.dags / "engine_dags.py").write_text(ENGINE_DAGS.format(marker=str(marks)))
        eng.proc = subprocess.Popen(
            [sys.executable, "-m", "aerovane", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(home / "scheduler.log", "wb"),  # noqa: SIM115
        )
        try:
            for dag_id in ("flaky", "sleepy", "stuck"):
                eng.wait_dag(dag_id)
            yield eng
        finally:
            eng.proc.send_signal(signal.SIGTERM)
            try:
                eng.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                eng.proc.kill()
                eng.proc.wait()
            dispose_engines()
            reload_settings()


@pytest.fixture(scope="module")
def api(engine: Any, _server_holder: Any) -> Any:
    account = add_user("runs-engine-admin", ["Admin"])
    with httpx.Client(
        base_url=_server_holder.ensure() + "/api/v1", auth=account.auth, timeout=30
    ) as client:
        yield client


def _trigger(api: httpx.Client, dag_id: str) -> str:
    response = api.post(f"/dags/{dag_id}/dagRuns", json={})
    assert response.status_code == 200, response.text
    return str(response.json()["dag_run_id"])


@pytest.mark.slow
def test_engine_reruns_a_cleared_run(engine: Any, api: httpx.Client) -> None:
    run_id = _trigger(api, "flaky")
    assert engine.wait_run("flaky", run_id) == "failed"
    (engine.home / "marks" / "fixed").touch()
    response = api.post(f"/dags/flaky/dagRuns/{run_id}/clear", json={"dry_run": False})
    assert response.json()["state"] == "queued"
    assert engine.wait_run("flaky", run_id) == "success"
    ti = engine.tis("flaky", run_id)["work"]
    assert (ti.state, ti.try_number) == ("success", 2)
    tries = api.get(f"/dags/flaky/dagRuns/{run_id}").json()
    assert tries["state"] == "success"


@pytest.mark.slow
def test_engine_restarts_a_running_task_when_its_run_is_cleared(
    engine: Any, api: httpx.Client
) -> None:
    from tests.engine.conftest import wait_for

    run_id = _trigger(api, "sleepy")
    wait_for(lambda: (engine.home / "marks" / "napping").exists(), 60, "the first attempt")
    api.post(f"/dags/sleepy/dagRuns/{run_id}/clear", json={"dry_run": False})
    assert engine.wait_run("sleepy", run_id, timeout=60) == "success"
    ti = engine.tis("sleepy", run_id)["nap"]
    assert (ti.state, ti.try_number) == ("success", 2)
    wait_for(
        lambda: "changed externally" in engine.log("sleepy", run_id, "nap", 1),
        30,
        "the first attempt to notice it was cleared",
    )


@pytest.mark.slow
def test_engine_stops_a_task_whose_run_is_marked_failed(engine: Any, api: httpx.Client) -> None:
    from tests.engine.conftest import wait_for

    run_id = _trigger(api, "stuck")
    wait_for(lambda: (engine.home / "marks" / "waiting").exists(), 60, "the task to start")
    response = api.patch(f"/dags/stuck/dagRuns/{run_id}", json={"state": "failed"})
    assert response.json()["state"] == "failed"
    wait_for(
        lambda: "changed externally" in engine.log("stuck", run_id, "wait", 1),
        30,
        "the attempt to notice",
    )
    assert engine.tis("stuck", run_id)["wait"].state == "failed"
    assert engine.run_state("stuck", run_id) == "failed"


@pytest.mark.slow
def test_engine_deleted_dag_comes_back_when_its_file_is_reparsed(
    engine: Any, api: httpx.Client
) -> None:
    from tests.engine.conftest import wait_for

    token = api.get("/dags/flaky").json()["file_token"]
    assert api.delete("/dags/flaky").status_code == 204
    assert api.get("/dags/flaky").status_code == 404
    # The file is unchanged and not due (min interval 1 h): only the request re-parses it.
    assert api.put(f"/parseDagFile/{token}").status_code == 201
    wait_for(lambda: api.get("/dags/flaky").status_code == 200, 120, "the DAG to be re-added")
    assert api.get("/dags/flaky/dagRuns").json()["total_entries"] == 0
