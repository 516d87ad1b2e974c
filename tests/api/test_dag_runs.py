"""`/dags/{dag_id}/dagRuns`: triggering (validation, conflicts, wake-up, audit), listing with
every filter, getting one run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from aerovane.api.v1.datamodels.dag_runs import DAGRunCollectionResponse, DAGRunResponse
from aerovane.authoring import Param
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.scheduler.wakeup import Wakeup
from tests.api.conftest import add_dag, add_run, count_queries
from tests.api.test_errors import assert_problem
from tests.conftest import PG_URL

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 2, tzinfo=UTC)
D3 = dt.datetime(2024, 3, 3, tzinfo=UTC)


@pytest.fixture
def dag(accounts: Any) -> str:
    add_dag("etl", schedule="@daily", params={"limit": Param(10, type="integer")})
    return "etl"


@pytest.fixture
def runs(dag: str) -> None:
    add_dag("other")
    add_run(
        "etl",
        "run_a",
        logical_date=D1,
        state="success",
        conf={"x": 2},
        start_date=D1,
        end_date=D1 + dt.timedelta(hours=1),
        run_type="scheduled",
    )
    add_run(
        "etl",
        "run_b",
        logical_date=D2,
        state="failed",
        conf={"x": 1},
        start_date=D2,
        end_date=D2 + dt.timedelta(hours=2),
    )
    add_run("etl", "run_c", logical_date=D3, state="running", start_date=D3)
    add_run("other", "run_o", logical_date=D1, state="queued")


def _run_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["dag_run_id"] for r in response.json()["dag_runs"]]


# -- POST -----------------------------------------------------------------------------------------


def test_trigger_with_defaults(client: httpx.Client, admin: httpx.BasicAuth, dag: str) -> None:
    response = client.post("/dags/etl/dagRuns", json={}, auth=admin)
    assert response.status_code == 200, response.text
    body = DAGRunResponse.model_validate(response.json())
    assert body.state == "queued"
    assert body.run_type == "manual"
    assert body.external_trigger is True
    assert body.conf == {}
    assert body.dag_id == "etl"
    raw = response.json()
    assert raw["logical_date"] == raw["execution_date"]
    assert raw["logical_date"].endswith("+00:00")
    assert raw["dag_run_id"] == f"manual__{raw['logical_date']}"
    with create_session(readonly=True) as session:
        run = session.scalar(select(models.DagRun).where(models.DagRun.dag_id == "etl"))
        assert run is not None and run.triggered_by == "rest_api"
        tis = session.scalars(
            select(models.TaskInstance.task_id).where(models.TaskInstance.run_id == run.run_id)
        ).all()
    assert sorted(tis) == ["extract", "load"]


def test_trigger_with_everything(client: httpx.Client, admin: httpx.BasicAuth, dag: str) -> None:
    payload = {
        "dag_run_id": "my_run",
        "logical_date": "2024-06-01T10:00:00+02:00",
        "execution_date": "2024-06-01T08:00:00Z",
        "data_interval_start": "2024-05-31T08:00:00Z",
        "data_interval_end": "2024-06-01T08:00:00Z",
        "conf": {"limit": 5},
        "note": "from the API",
    }
    response = client.post("/dags/etl/dagRuns", json=payload, auth=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dag_run_id"] == "my_run"
    assert body["logical_date"] == "2024-06-01T08:00:00+00:00"
    assert body["data_interval_start"] == "2024-05-31T08:00:00+00:00"
    assert body["data_interval_end"] == "2024-06-01T08:00:00+00:00"
    assert body["conf"] == {"limit": 5}
    assert body["note"] == "from the API"
    got = client.get("/dags/etl/dagRuns/my_run", auth=admin)
    assert got.json() == body


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"logical_date": "2024-06-01T10:00:00"}, "Naive datetime is disallowed"),
        ({"execution_date": "2024-06-01T10:00:00"}, "Naive datetime is disallowed"),
        (
            {"logical_date": "2024-06-01T10:00:00Z", "execution_date": "2024-06-02T10:00:00Z"},
            "logical_date conflicts with execution_date",
        ),
        ({"data_interval_start": "2024-06-01T10:00:00Z"}, "must be specified together"),
        ({"logical_date": "yesterday"}, "'logical_date'"),
        ({"state": "success"}, "'state'"),
        ({"conf": [1, 2]}, "'conf'"),
        ({"conf": {"limit": "lots"}}, "limit"),
        ({"dag_run_id": "bad id!"}, "does not match the configured pattern"),
    ],
)
def test_trigger_rejects_bad_bodies(
    client: httpx.Client, admin: httpx.BasicAuth, dag: str, payload: dict[str, Any], fragment: str
) -> None:
    body = assert_problem(client.post("/dags/etl/dagRuns", json=payload, auth=admin), 400)
    assert fragment in body["detail"]


def test_trigger_not_json_object(client: httpx.Client, admin: httpx.BasicAuth, dag: str) -> None:
    assert_problem(client.post("/dags/etl/dagRuns", json=[1], auth=admin), 400)


def test_trigger_duplicates_are_409(client: httpx.Client, admin: httpx.BasicAuth, dag: str) -> None:
    first = {"dag_run_id": "once", "logical_date": "2024-06-01T00:00:00Z"}
    assert client.post("/dags/etl/dagRuns", json=first, auth=admin).status_code == 200
    body = assert_problem(
        client.post("/dags/etl/dagRuns", json={"dag_run_id": "once"}, auth=admin),
        409,
        title="Conflict",
        type="https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html"
        "#section/Errors/AlreadyExists",
    )
    assert "once" in body["detail"]
    assert_problem(
        client.post(
            "/dags/etl/dagRuns",
            json={"dag_run_id": "twice", "logical_date": "2024-06-01T00:00:00Z"},
            auth=admin,
        ),
        409,
    )
    with create_session(readonly=True) as session:
        assert len(session.scalars(select(models.DagRun)).all()) == 1


def test_trigger_unknown_inactive_or_broken_dag(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any
) -> None:
    add_dag("gone", is_active=False)
    add_dag("broken", has_import_errors=True)
    assert_problem(
        client.post("/dags/nope/dagRuns", json={}, auth=admin),
        404,
        title="DAG not found",
        detail="DAG with dag_id: 'nope' not found",
    )
    assert_problem(client.post("/dags/gone/dagRuns", json={}, auth=admin), 404)
    body = assert_problem(client.post("/dags/broken/dagRuns", json={}, auth=admin), 400)
    assert "import errors" in body["detail"]


def test_trigger_wakes_the_scheduler(
    client: httpx.Client, admin: httpx.BasicAuth, dag: str
) -> None:
    wakeup = Wakeup()
    try:
        assert wakeup.wait(0) is False
        assert client.post("/dags/etl/dagRuns", json={}, auth=admin).status_code == 200
        assert wakeup.wait(5) is True
        # A refused trigger commits nothing and wakes nobody.
        client.post("/dags/etl/dagRuns", json={"conf": {"limit": "x"}}, auth=admin)
        assert wakeup.wait(0.2) is False
    finally:
        wakeup.close()


def test_trigger_writes_audit_row(client: httpx.Client, accounts: Any, dag: str) -> None:
    op = accounts["Op"]
    response = client.post(
        "/dags/etl/dagRuns",
        json={"dag_run_id": "audited", "conf": {"password": "hunter2", "limit": 3}},
        auth=op.auth,
    )
    assert response.status_code == 200, response.text
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog)))
    assert [(r.event, r.owner, r.dag_id, r.run_id) for r in rows] == [
        ("api.post_dag_run", "op", "etl", "audited")
    ]
    assert "hunter2" not in (rows[0].extra or "")


def test_failed_triggers_are_audited(client: httpx.Client, accounts: Any, dag: str) -> None:
    """A trigger that fails after access was granted is on record too, in its own transaction
    (the request's own one is rolled back)."""
    op = accounts["Op"]
    assert (
        client.post("/dags/etl/dagRuns", json={"dag_run_id": "r"}, auth=op.auth).status_code == 200
    )
    assert (
        client.post("/dags/etl/dagRuns", json={"dag_run_id": "r"}, auth=op.auth).status_code == 409
    )
    assert client.post("/dags/nope/dagRuns", json={}, auth=op.auth).status_code == 404
    assert client.post("/dags/etl/dagRuns", json={"conf": 3}, auth=op.auth).status_code == 400
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog).order_by(models.EventLog.id)))
        runs = list(session.scalars(select(models.DagRun.run_id)))
    assert [(r.event, r.dag_id) for r in rows] == [("api.post_dag_run", "etl")] * 2 + [
        ("api.post_dag_run", "nope"),
        ("api.post_dag_run", "etl"),
    ]
    assert runs == ["r"]


def test_denied_trigger_is_not_audited(client: httpx.Client, accounts: Any, dag: str) -> None:
    viewer = accounts["Viewer"]
    assert client.post("/dags/etl/dagRuns", json={}, auth=viewer.auth).status_code == 403
    with create_session(readonly=True) as session:
        assert list(session.scalars(select(models.EventLog))) == []


# -- GET list --------------------------------------------------------------------------------------


def test_list_runs(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    response = client.get("/dags/etl/dagRuns", auth=admin)
    body = DAGRunCollectionResponse.model_validate(response.json())
    assert body.total_entries == 3
    assert _run_ids(response) == ["run_a", "run_b", "run_c"]
    first = response.json()["dag_runs"][0]
    assert first["run_type"] == "scheduled"
    assert first["conf"] == {"x": 2}
    assert first["start_date"] == "2024-03-01T00:00:00+00:00"
    assert first["end_date"] == "2024-03-01T01:00:00+00:00"


def test_list_runs_datetimes_match_a_single_runs(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    """The list reads datetimes as text from the database (SQLite's stored form; PostgreSQL
    renders the same in UTC); they read exactly as the single run's, with microseconds, and
    without them when they are zero."""
    add_dag("etl")
    plus_two = dt.timezone(dt.timedelta(hours=2))
    add_run(
        "etl",
        "fine",
        logical_date=dt.datetime(2024, 3, 1, 1, 2, 3, 450, tzinfo=plus_two),
        start_date=dt.datetime(2024, 3, 1, 23, 59, 59, 999999, tzinfo=dt.UTC),
        end_date=dt.datetime(2024, 3, 2, tzinfo=plus_two),
    )
    listed = client.get("/dags/etl/dagRuns", auth=admin).json()["dag_runs"][0]
    single = client.get("/dags/etl/dagRuns/fine", auth=admin).json()
    assert listed["logical_date"] == "2024-02-29T23:02:03.000450+00:00"
    assert listed["start_date"] == "2024-03-01T23:59:59.999999+00:00"
    assert listed["end_date"] == "2024-03-01T22:00:00+00:00"
    assert listed["last_scheduling_decision"] is None
    for name in ("logical_date", "execution_date", "start_date", "end_date"):
        assert listed[name] == single[name], name


def test_list_runs_of_all_dags(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    response = client.get("/dags/~/dagRuns", auth=admin)
    assert sorted(_run_ids(response)) == ["run_a", "run_b", "run_c", "run_o"]
    assert client.get("/dags/nope/dagRuns", auth=admin).json() == {
        "dag_runs": [],
        "total_entries": 0,
    }


def test_list_runs_filters(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    def ids(**params: Any) -> list[str]:
        return _run_ids(client.get("/dags/etl/dagRuns", params=params, auth=admin))

    assert ids(state="failed") == ["run_b"]
    assert ids(state=["failed", "success"]) == ["run_a", "run_b"]
    assert ids(execution_date_gte="2024-03-02T00:00:00Z") == ["run_b", "run_c"]
    assert ids(execution_date_lte="2024-03-02T00:00:00+00:00") == ["run_a", "run_b"]
    # A "+" that URL-decoding turned into a space still means an offset.
    assert ids(execution_date_lte="2024-03-02T01:00:00 01:00") == ["run_a", "run_b"]
    assert ids(execution_date_gte="2024-03-02") == ["run_b", "run_c"]
    assert ids(start_date_gte="2024-03-02T00:00:00Z", start_date_lte="2024-03-02T23:00:00Z") == [
        "run_b"
    ]
    assert ids(end_date_gte="2024-03-02T01:30:00Z") == ["run_b"]
    assert ids(end_date_lte="2024-03-02T00:00:00Z") == ["run_a"]
    assert ids(updated_at_gte="2000-01-01T00:00:00Z") == ["run_a", "run_b", "run_c"]
    assert ids(updated_at_lte="2000-01-01T00:00:00Z") == []


def test_list_runs_bad_datetime(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    assert_problem(
        client.get("/dags/etl/dagRuns", params={"start_date_gte": "soon"}, auth=admin),
        400,
        title="Incorrect datetime argument",
    )


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("id", ["run_a", "run_b", "run_c"]),
        ("-id", ["run_c", "run_b", "run_a"]),
        ("-execution_date", ["run_c", "run_b", "run_a"]),
        ("dag_run_id", ["run_a", "run_b", "run_c"]),
        ("state", ["run_b", "run_c", "run_a"]),
        ("-start_date", ["run_c", "run_b", "run_a"]),
        ("conf", ["run_b", "run_a", "run_c"]),
        ("external_trigger", ["run_a", "run_b", "run_c"]),
        ("dag_id", ["run_a", "run_b", "run_c"]),
        ("updated_at", None),
        ("end_date", None),
    ],
)
def test_list_runs_order_by(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    runs: None,
    order_by: str,
    expected: list[str] | None,
) -> None:
    ids = _run_ids(client.get("/dags/etl/dagRuns", params={"order_by": order_by}, auth=admin))
    if expected is not None:
        assert ids == expected
    else:
        assert sorted(ids) == ["run_a", "run_b", "run_c"]


def test_list_runs_bad_order_by(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    assert_problem(
        client.get("/dags/etl/dagRuns", params={"order_by": "note"}, auth=admin),
        400,
        detail="Ordering with 'note' is disallowed or the attribute does not exist on the model",
    )


def test_list_runs_paging_and_fields(
    client: httpx.Client, admin: httpx.BasicAuth, runs: None
) -> None:
    response = client.get("/dags/~/dagRuns", params={"limit": 2, "offset": 1}, auth=admin)
    assert _run_ids(response) == ["run_b", "run_c"]
    assert response.json()["total_entries"] == 4
    response = client.get(
        "/dags/etl/dagRuns", params={"fields": ["dag_run_id", "state"], "limit": 1}, auth=admin
    )
    assert response.json()["dag_runs"] == [{"dag_run_id": "run_a", "state": "success"}]
    assert_problem(
        client.get("/dags/etl/dagRuns", params={"fields": "colour"}, auth=admin),
        400,
        title="DAGRunCollectionSchema init error",
    )


def test_list_runs_query_count(client: httpx.Client, admin: httpx.BasicAuth, dag: str) -> None:
    add_run("etl", "r0", logical_date=D1)
    with count_queries() as few:
        _run_ids(client.get("/dags/etl/dagRuns", params={"limit": 5}, auth=admin))
    for day in range(1, 20):
        add_run("etl", f"r{day}", logical_date=D1 + dt.timedelta(days=day))
    with count_queries() as many:
        assert len(_run_ids(client.get("/dags/~/dagRuns", params={"limit": 5}, auth=admin))) == 5
    assert len(many) <= len(few) + 1  # + COUNT, as the page is full


# -- GET one ---------------------------------------------------------------------------------------


def test_get_run(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    response = client.get("/dags/etl/dagRuns/run_b", auth=admin)
    assert response.status_code == 200
    body = DAGRunResponse.model_validate(response.json())
    assert body.state == "failed"
    assert response.json()["logical_date"] == "2024-03-02T00:00:00+00:00"
    response = client.get("/dags/etl/dagRuns/run_b", params={"fields": "state"}, auth=admin)
    assert response.json() == {"state": "failed"}


def test_get_missing_run(client: httpx.Client, admin: httpx.BasicAuth, runs: None) -> None:
    assert_problem(
        client.get("/dags/etl/dagRuns/nope", auth=admin),
        404,
        title="DAGRun not found",
        detail="DAGRun with DAG ID: 'etl' and DagRun ID: 'nope' not found",
    )
    assert_problem(client.get("/dags/other/dagRuns/run_a", auth=admin), 404)


@pytest.fixture
def _null_conf(runs: None) -> Iterator[None]:
    with create_session() as session:
        session.execute(
            update(models.DagRun).where(models.DagRun.run_id == "run_c").values(conf=None)
        )
    yield


def test_null_conf_is_an_empty_object(
    client: httpx.Client, admin: httpx.BasicAuth, _null_conf: None
) -> None:
    assert client.get("/dags/etl/dagRuns/run_c", auth=admin).json()["conf"] == {}


def _task_ids(run_id: str) -> set[str]:
    with create_session(readonly=True) as session:
        rows = session.scalars(
            select(models.TaskInstance.task_id).where(models.TaskInstance.run_id == run_id)
        )
        return set(rows)


def _reparsed(dag_id: str, **changes: Any) -> None:
    """A new version of `dag_id` stored as the DAG processor stores one."""
    from aerovane.authoring.serialization import SerializedDAG, serialize_dag
    from tests.api.conftest import build_dag

    data = serialize_dag(build_dag(dag_id, **changes))
    with create_session() as session:
        session.execute(
            update(models.SerializedDagModel)
            .where(models.SerializedDagModel.dag_id == dag_id)
            .values(data=data, dag_hash=SerializedDAG.from_dict(data).dag_hash)
        )


def _set_dag(dag_id: str, **values: Any) -> None:
    with create_session() as session:
        session.execute(
            update(models.DagModel).where(models.DagModel.dag_id == dag_id).values(**values)
        )


def test_trigger_follows_a_dag_changed_since_the_last_trigger(
    client: httpx.Client, admin: httpx.BasicAuth, dag: str
) -> None:
    """A trigger always creates the run of the DAG's current version (the version cached in the
    API process is only used while its hash is current): new tasks, new params, import errors
    and deactivation all take effect on the next trigger."""
    url = f"/dags/{dag}/dagRuns"
    first = client.post(url, json={"dag_run_id": "before"}, auth=admin)
    assert first.status_code == 200, first.text
    assert _task_ids("before") == {"extract", "load"}
    # New tasks, and a param the old version would reject: the new version decides.
    _reparsed(dag, task_ids=("fetch",), params={"limit": Param("10", type="string")})
    after = client.post(url, json={"dag_run_id": "after", "conf": {"limit": "all"}}, auth=admin)
    assert after.status_code == 200, after.text
    assert _task_ids("after") == {"fetch"}
    # A conf both versions accept.
    _reparsed(dag, task_ids=("fetch", "store"), params={"limit": Param("10", type="string")})
    again = client.post(url, json={"dag_run_id": "again"}, auth=admin)
    assert again.status_code == 200, again.text
    assert _task_ids("again") == {"fetch", "store"}
    # The reverse: the version in memory accepts the conf, the current one does not.
    _reparsed(dag, params={"limit": Param(10, type="integer")})
    refused = client.post(url, json={"conf": {"limit": "all"}}, auth=admin)
    assert refused.status_code == 400, refused.text
    _set_dag(dag, has_import_errors=True)
    assert client.post(url, json={}, auth=admin).status_code == 400
    _set_dag(dag, has_import_errors=False, is_active=False)
    assert client.post(url, json={}, auth=admin).status_code == 404


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock")
def test_a_trigger_waits_for_the_write_lock_without_checking_again(
    client: httpx.Client, admin: httpx.BasicAuth, dag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another process holds SQLite's write lock the trigger waits on the event loop
    (decision 0029), then calls the service once more, without re-planning, and creates its
    run."""
    import threading
    import time

    from aerovane.api import deps
    from aerovane.db.engine import get_engine
    from aerovane.services import dag_runs as service

    calls = {"plan": 0, "insert": 0}
    busy_polls: list[bool] = []
    plan, insert = service.plan_manual_run, service.insert_manual_run
    begin_nowait = deps.begin_write_nowait

    def counted_begin(session: Any) -> bool:
        began = begin_nowait(session)
        if not began:
            busy_polls.append(True)
        return began

    def counted_plan(*args: Any, **kwargs: Any) -> Any:
        calls["plan"] += 1
        return plan(*args, **kwargs)

    def counted_insert(*args: Any, **kwargs: Any) -> Any:
        calls["insert"] += 1
        return insert(*args, **kwargs)

    monkeypatch.setattr(service, "plan_manual_run", counted_plan)
    monkeypatch.setattr(service, "insert_manual_run", counted_insert)
    monkeypatch.setattr(deps, "begin_write_nowait", counted_begin)
    # The first request with a password records a sign-in (a write of its own): done here.
    assert client.get("/dags", auth=admin).status_code == 200
    holder = get_engine().raw_connection()
    responses: list[httpx.Response] = []
    try:
        holder.dbapi_connection.execute("BEGIN IMMEDIATE")
        post = threading.Thread(
            target=lambda: responses.append(
                client.post("/dags/etl/dagRuns", json={"dag_run_id": "waited"}, auth=admin)
            )
        )
        post.start()
        deadline = time.monotonic() + 120
        # Released only once the trigger found the lock taken and polls for it.
        while not busy_polls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert busy_polls and calls["insert"] == 1, calls
    finally:
        holder.dbapi_connection.execute("ROLLBACK")
        holder.close()
    post.join(120)
    assert responses and responses[0].status_code == 200, responses
    assert calls == {"plan": 1, "insert": 2}
    with create_session(readonly=True) as session:
        runs = session.scalars(select(models.DagRun.run_id).where(models.DagRun.dag_id == dag))
        assert list(runs) == ["waited"]
