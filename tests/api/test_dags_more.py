"""`/dags` beyond list/get/pause-one: bulk PATCH, DELETE, `/details` and `/tasks`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from aerovane.api import signing
from aerovane.api.v1.datamodels.dags import (
    DAGCollectionResponse,
    DAGDetailResponse,
    TaskCollectionResponse,
    TaskResponse,
)
from aerovane.auth.permissions import DELETE, EDIT, READ
from aerovane.authoring import DAG, BashOperator, Dataset, EmptyOperator, Param, PythonOperator
from aerovane.authoring.serialization import serialize_dag
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.scheduler.wakeup import Wakeup
from tests.api.conftest import add_dag, add_role, add_run, add_user, count_queries, update_ti
from tests.api.test_errors import assert_problem

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)


def store_dags(path: Path, *dags: DAG, source: str | None = None) -> None:
    """Store `dags` as the DAG processor does after parsing `path` (which gets `source`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source or "# a DAG file for aerovane\n", encoding="utf-8")
    for dag in dags:
        dag.fileloc = str(path)
    with create_session() as session:
        store_parse_result(str(path), [serialize_dag(d) for d in dags], None, session=session)


def _noop() -> None:
    return None


def rich_dag() -> DAG:
    """A DAG exercising every DAGDetail and Task field."""
    with DAG(
        "rich",
        description="Everything set",
        schedule="0 3 * * *",
        start_date=dt.datetime(2024, 1, 1, tzinfo=UTC),
        end_date=dt.datetime(2030, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["b", "a"],
        params={"limit": Param(10, type="integer", description="How many"), "name": "x"},
        doc_md="# Rich",
        dagrun_timeout=dt.timedelta(hours=1, seconds=5),
        template_searchpath=["/opt/templates"],
        render_template_as_native_obj=True,
        is_paused_upon_creation=False,
        orientation="TB",
        max_active_tasks=7,
        default_args={"owner": "alice"},
        auto_register=False,
    ) as dag:
        first = BashOperator(
            task_id="first",
            bash_command="echo hi",
            retries=3,
            retry_delay=dt.timedelta(minutes=2, microseconds=5),
            execution_timeout=dt.timedelta(seconds=90),
            pool="special",
            pool_slots=2,
            priority_weight=5,
            queue="q1",
            doc_md="first task",
            depends_on_past=True,
        )
        second = PythonOperator(task_id="second", python_callable=_noop, trigger_rule="all_done")
        third = EmptyOperator(task_id="a_third")
        first >> [second, third]
    return dag


@pytest.fixture
def dags(accounts: Any) -> None:
    add_dag("alpha", tags=["etl", "prod"])
    add_dag("alpine", tags=["etl"], is_paused=True)
    add_dag("beta", tags=["ml"])
    add_dag("gone", is_active=False)


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["dag_id"] for d in response.json()["dags"]]


def _paused() -> dict[str, bool]:
    with create_session(readonly=True) as session:
        rows = session.execute(select(models.DagModel.dag_id, models.DagModel.is_paused))
        return dict(rows.all())


# -- PATCH /dags ----------------------------------------------------------------------------------


def test_patch_dags_by_pattern(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    response = client.patch(
        "/dags", params={"dag_id_pattern": "alp"}, json={"is_paused": True}, auth=admin
    )
    body = DAGCollectionResponse.model_validate(response.json())
    assert [d.dag_id for d in body.dags] == ["alpha", "alpine"]
    assert all(d.is_paused for d in body.dags)
    assert body.total_entries == 2
    assert response.json()["dags"][0]["tags"] == [{"name": "etl"}, {"name": "prod"}]
    assert _paused() == {"alpha": True, "alpine": True, "beta": False, "gone": False}


def test_patch_dags_tilde_tags_and_inactive(
    client: httpx.Client, admin: httpx.BasicAuth, dags: None
) -> None:
    def patch(**params: Any) -> list[str]:
        return _ids(client.patch("/dags", params=params, json={"is_paused": True}, auth=admin))

    assert patch(dag_id_pattern="~", tags="ml") == ["beta"]
    assert patch(dag_id_pattern="~", tags=["etl", "ml"]) == ["alpha", "alpine", "beta"]
    assert patch(dag_id_pattern="~") == ["alpha", "alpine", "beta"]
    assert _paused()["gone"] is False
    assert patch(dag_id_pattern="~", only_active="false") == ["alpha", "alpine", "beta", "gone"]
    assert patch(dag_id_pattern="nothing-matches") == []


def test_patch_dags_pages(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    response = client.patch(
        "/dags",
        params={"dag_id_pattern": "~", "limit": 2, "offset": 1, "update_mask": "is_paused"},
        json={"is_paused": True},
        auth=admin,
    )
    assert _ids(response) == ["alpine", "beta"]
    assert response.json()["total_entries"] == 3
    # Only the page is changed.
    assert _paused() == {"alpha": False, "alpine": True, "beta": True, "gone": False}


def test_patch_dags_errors(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    body = assert_problem(client.patch("/dags", json={"is_paused": True}, auth=admin), 400)
    assert "dag_id_pattern" in body["detail"]
    assert_problem(
        client.patch(
            "/dags",
            params={"dag_id_pattern": "~", "update_mask": "description"},
            json={"is_paused": True},
            auth=admin,
        ),
        400,
        detail="Only `is_paused` field can be updated through the REST API",
    )
    for payload in ({}, {"is_paused": "maybe"}, {"is_paused": True, "dag_id": "x"}):
        assert_problem(
            client.patch("/dags", params={"dag_id_pattern": "~"}, json=payload, auth=admin), 400
        )
    assert_problem(
        client.patch(
            "/dags",
            params={"dag_id_pattern": "~", "limit": -1},
            json={"is_paused": True},
            auth=admin,
        ),
        400,
    )
    assert set(_paused().values()) == {False, True} and _paused()["alpha"] is False


def test_patch_dags_only_editable_and_audited(client: httpx.Client, dags: None) -> None:
    add_role("AlphaEditor", {(READ, "DAG:alpha"), (EDIT, "DAG:alpha")})
    auth = add_user("alpha_editor", ["AlphaEditor"]).auth
    response = client.patch(
        "/dags", params={"dag_id_pattern": "~"}, json={"is_paused": True}, auth=auth
    )
    assert _ids(response) == ["alpha"]
    assert response.json()["total_entries"] == 1
    assert _paused()["beta"] is False
    with create_session(readonly=True) as session:
        events = [
            (e.event, e.owner)
            for e in session.scalars(select(models.EventLog).order_by(models.EventLog.id))
        ]
    assert events == [("api.patch_dags", "alpha_editor")]


def test_patch_dags_unpause_wakes_scheduler(
    client: httpx.Client, admin: httpx.BasicAuth, dags: None
) -> None:
    wakeup = Wakeup()
    try:
        client.patch(
            "/dags", params={"dag_id_pattern": "alpine"}, json={"is_paused": False}, auth=admin
        )
        assert wakeup.wait(5) is True
    finally:
        wakeup.close()


def test_patch_dags_query_count(client: httpx.Client, admin: httpx.BasicAuth, dags: None) -> None:
    with count_queries() as few:
        client.patch(
            "/dags", params={"dag_id_pattern": "beta"}, json={"is_paused": True}, auth=admin
        )
    for n in range(12):
        add_dag(f"many_{n:02d}", tags=["t1", "t2"])
    with count_queries() as many:
        response = client.patch(
            "/dags",
            params={"dag_id_pattern": "many", "limit": 5},
            json={"is_paused": True},
            auth=admin,
        )
    assert len(_ids(response)) == 5
    assert len(many) <= len(few) + 1  # + COUNT, as the page is full


# -- DELETE /dags/{dag_id} ------------------------------------------------------------------------


def _count(model: Any, **where: Any) -> int:
    with create_session(readonly=True) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.scalar(query) or 0)


def test_delete_dag_removes_everything(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any, tmp_path: Path
) -> None:
    with DAG("producer", schedule=None, start_date=D1, tags=["x"], auto_register=False) as dag:
        EmptyOperator(task_id="make", outlets=[Dataset("s3://bucket/data")])
    store_dags(tmp_path / "dags" / "producer.py", dag)
    add_dag("keeper")
    add_run("producer", "r1", logical_date=D1, state="success")
    add_run("keeper", "k1", logical_date=D1)
    update_ti("producer", "r1", "make", try_number=1, state="success")
    with create_session() as session:
        run = session.scalar(select(models.DagRun).where(models.DagRun.run_id == "r1"))
        assert run is not None
        session.add(
            models.XCom(
                dag_run_id=run.id,
                task_id="make",
                key="k",
                dag_id="producer",
                run_id="r1",
                value="1",
            )
        )
        session.add(
            models.TaskInstanceHistory(
                dag_id="producer", task_id="make", run_id="r1", try_number=1, state="failed"
            )
        )
        session.add(
            models.ImportErrorModel(
                filename=str(tmp_path / "dags" / "producer.py"), stacktrace="old"
            )
        )
        session.add(models.EventLog(event="cli_trigger", dag_id="producer"))
    assert _count(models.TaskOutletDatasetReference, dag_id="producer") == 1

    response = client.delete("/dags/producer", auth=admin)
    assert response.status_code == 204, response.text
    assert response.content == b""
    for model in (
        models.DagModel,
        models.DagTag,
        models.SerializedDagModel,
        models.DagRun,
        models.TaskInstance,
        models.TaskInstanceHistory,
        models.XCom,
        models.TaskOutletDatasetReference,
    ):
        assert _count(model, dag_id="producer") == 0, model
    assert _count(models.ImportErrorModel) == 0
    assert _count(models.DatasetModel) == 1  # datasets are shared; they stay
    # The audit log is kept, and the deletion itself is on it.
    assert _count(models.EventLog, dag_id="producer") == 2
    assert _count(models.EventLog, event="api.delete_dag") == 1
    # Other DAGs are untouched.
    assert _count(models.DagRun, dag_id="keeper") == 1
    assert_problem(client.get("/dags/producer", auth=admin), 404)

    # The DAG processor adds it back when it parses the file again, as in Airflow.
    store_dags(tmp_path / "dags" / "producer.py", dag)
    assert client.get("/dags/producer", auth=admin).status_code == 200


def test_delete_dag_errors(client: httpx.Client, admin: httpx.BasicAuth, accounts: Any) -> None:
    assert_problem(
        client.delete("/dags/nope", auth=admin),
        404,
        title="Dag with id: 'nope' not found",
        detail=None,
    )
    add_dag("busy")
    add_run("busy", "r1", logical_date=D1, state="running")
    update_ti("busy", "r1", "extract", state="running", try_number=1)
    assert_problem(
        client.delete("/dags/busy", auth=admin),
        409,
        detail="Task instances of dag with id: 'busy' are still running",
    )
    assert _count(models.DagModel, dag_id="busy") == 1
    update_ti("busy", "r1", "extract", state="success")
    assert client.delete("/dags/busy", auth=admin).status_code == 204


def test_delete_dag_per_dag_grant(client: httpx.Client, dags: None) -> None:
    add_role("AlphaDeleter", {(READ, "DAG:alpha"), (DELETE, "DAG:alpha")})
    auth = add_user("alpha_deleter", ["AlphaDeleter"]).auth
    assert client.delete("/dags/beta", auth=auth).status_code == 403
    assert client.delete("/dags/alpha", auth=auth).status_code == 204


# -- GET /dags/{dag_id}/details -------------------------------------------------------------------


@pytest.fixture
def rich(accounts: Any, tmp_path: Path) -> str:
    store_dags(tmp_path / "dags" / "rich.py", rich_dag())
    return "rich"


def test_dag_details(client: httpx.Client, admin: httpx.BasicAuth, rich: str) -> None:
    response = client.get("/dags/rich/details", auth=admin)
    assert response.status_code == 200, response.text
    DAGDetailResponse.model_validate(response.json())
    body = response.json()
    assert body["dag_id"] == "rich"
    assert body["description"] == "Everything set"
    assert body["owners"] == ["alice"]
    assert body["tags"] == [{"name": "a"}, {"name": "b"}]
    assert body["schedule_interval"] == {"__type": "CronExpression", "value": "0 3 * * *"}
    assert body["timezone"] == "UTC"
    assert body["catchup"] is False
    assert body["orientation"] == "TB"
    assert body["concurrency"] == 7
    assert body["max_active_tasks"] == 7
    assert body["start_date"] == "2024-01-01T00:00:00+00:00"
    assert body["end_date"] == "2030-01-01T00:00:00+00:00"
    assert body["dag_run_timeout"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 3605,
        "microseconds": 0,
    }
    assert body["dataset_expression"] is None
    assert body["doc_md"] == "# Rich"
    assert body["params"] == {
        "limit": {
            "__class": "airflow.models.param.Param",
            "value": 10,
            "description": "How many",
            "schema": {"type": "integer"},
        },
        "name": {
            "__class": "airflow.models.param.Param",
            "value": "x",
            "description": None,
            "schema": {},
        },
    }
    assert body["is_paused_upon_creation"] is False
    assert body["is_paused"] is False
    assert body["last_parsed"] == body["last_parsed_time"] is not None
    # The real server's key, not the spec's `template_search_path`.
    assert body["template_searchpath"] == ["/opt/templates"]
    assert "template_search_path" not in body
    assert body["render_template_as_native_obj"] is True
    assert signing.fileloc_from_token(body["file_token"]) == body["fileloc"]


def test_dag_details_dataset_expression(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any, tmp_path: Path
) -> None:
    with DAG(
        "consumer",
        schedule=[Dataset("s3://a"), Dataset("s3://b")],
        start_date=D1,
        auto_register=False,
    ) as dag:
        EmptyOperator(task_id="use")
    store_dags(tmp_path / "dags" / "consumer.py", dag)
    body = client.get("/dags/consumer/details", auth=admin).json()
    assert body["dataset_expression"] == {"all": ["s3://a", "s3://b"]}
    assert body["dag_run_timeout"] is None
    assert body["template_searchpath"] is None


def test_dag_details_fields_and_errors(
    client: httpx.Client, admin: httpx.BasicAuth, rich: str
) -> None:
    response = client.get(
        "/dags/rich/details",
        params={"fields": ["dag_id", "timezone", "template_searchpath"]},
        auth=admin,
    )
    assert response.json() == {
        "dag_id": "rich",
        "timezone": "UTC",
        "template_searchpath": ["/opt/templates"],
    }
    assert_problem(
        client.get("/dags/rich/details", params={"fields": "colour"}, auth=admin),
        400,
        title="DAGDetailSchema init error",
    )
    assert_problem(
        client.get("/dags/nope/details", auth=admin),
        404,
        title="DAG not found",
        detail="The DAG with dag_id: nope was not found",
    )


def test_dag_details_with_official_client(base_url: str, accounts: Any, rich: str) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api import dag_api

    conf = client.Configuration(host=base_url + "/api/v1", username="admin", password="Admin-pw")
    with client.ApiClient(conf) as api:
        detail = dag_api.DAGApi(api).get_dag_details("rich")
        assert detail.dag_id == "rich"
        assert detail.timezone == "UTC"
        # (Reading `detail.dag_run_timeout` raises inside the 2.10 client, for Airflow's own
        # responses too: its composed-model accessor compares two copies of the nested model.)
        tasks = dag_api.DAGApi(api).get_tasks("rich")
        assert [t.task_id for t in tasks.tasks] == ["a_third", "first", "second"]
        task = dag_api.DAGApi(api).get_task("rich", "first")
        assert task.retry_delay.seconds == 120
        assert task.class_ref.class_name == "BashOperator"


# -- GET /dags/{dag_id}/tasks ---------------------------------------------------------------------


def test_tasks(client: httpx.Client, admin: httpx.BasicAuth, rich: str) -> None:
    response = client.get("/dags/rich/tasks", auth=admin)
    assert response.status_code == 200, response.text
    body = TaskCollectionResponse.model_validate(response.json())
    assert body.total_entries == 3
    assert [t.task_id for t in body.tasks] == ["a_third", "first", "second"]
    first = response.json()["tasks"][1]
    assert first["class_ref"] == {
        "module_path": "aerovane.authoring.operators.bash",
        "class_name": "BashOperator",
    }
    assert first["operator_name"] == "BashOperator"
    assert first["owner"] == "alice"
    assert first["trigger_rule"] == "all_success"
    assert first["retries"] == 3
    assert first["retry_delay"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 120,
        "microseconds": 5,
    }
    assert first["execution_timeout"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 90,
        "microseconds": 0,
    }
    assert first["retry_exponential_backoff"] is False
    assert first["pool"] == "special"
    assert first["pool_slots"] == 2
    assert first["priority_weight"] == 5
    assert first["weight_rule"] == "downstream"
    assert first["queue"] == "q1"
    assert first["executor"] is None
    assert first["depends_on_past"] is True
    assert first["wait_for_downstream"] is False
    assert first["is_mapped"] is False
    assert first["extra_links"] == []
    assert first["downstream_task_ids"] == ["a_third", "second"]
    assert first["template_fields"] == ["bash_command", "env", "cwd"]
    assert first["doc_md"] == "first task"
    assert first["ui_color"].startswith("#")
    assert first["start_date"] == "2024-01-01T00:00:00+00:00"
    assert first["end_date"] == "2030-01-01T00:00:00+00:00"
    assert first["params"]["limit"]["value"] == 10
    assert "sub_dag" not in first
    second = response.json()["tasks"][2]
    assert second["trigger_rule"] == "all_done"
    assert second["execution_timeout"] is None
    assert second["retry_delay"]["seconds"] == 300


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("task_id", ["a_third", "first", "second"]),
        ("-task_id", ["second", "first", "a_third"]),
        ("-retries", ["first", "a_third", "second"]),
        ("pool", ["a_third", "second", "first"]),
        ("-execution_timeout", ["first", "a_third", "second"]),
    ],
)
def test_tasks_order_by(
    client: httpx.Client, admin: httpx.BasicAuth, rich: str, order_by: str, expected: list[str]
) -> None:
    response = client.get("/dags/rich/tasks", params={"order_by": order_by}, auth=admin)
    assert [t["task_id"] for t in response.json()["tasks"]] == expected


def test_tasks_errors(client: httpx.Client, admin: httpx.BasicAuth, rich: str) -> None:
    assert_problem(
        client.get("/dags/rich/tasks", params={"order_by": "colour"}, auth=admin),
        400,
        detail="'SerializedBaseOperator' object has no attribute 'colour'",
    )
    assert_problem(client.get("/dags/nope/tasks", auth=admin), 404, title="DAG not found")
    assert_problem(client.get("/dags/nope/tasks/x", auth=admin), 404, title="DAG not found")
    assert_problem(client.get("/dags/rich/tasks/x", auth=admin), 404, title="Task not found")
    assert_problem(client.get("/dags/rich/tasks", params={"limit": 1}, auth=admin), 400)


def test_get_task(client: httpx.Client, admin: httpx.BasicAuth, rich: str) -> None:
    response = client.get("/dags/rich/tasks/second", auth=admin)
    assert response.status_code == 200, response.text
    task = TaskResponse.model_validate(response.json())
    assert task.class_ref.class_name == "PythonOperator"
    assert task.downstream_task_ids == []
    assert response.json() == client.get("/dags/rich/tasks", auth=admin).json()["tasks"][2]


def test_taskflow_operator_name(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any, tmp_path: Path
) -> None:
    from aerovane.authoring import task

    with DAG("flow", schedule=None, start_date=D1, auto_register=False) as dag:

        @task
        def compute() -> int:
            return 1

        compute()
    store_dags(tmp_path / "dags" / "flow.py", dag)
    body = client.get("/dags/flow/tasks/compute", auth=admin).json()
    assert body["operator_name"] == "@task"
    assert body["class_ref"]["class_name"] != "@task"


# -- authorization --------------------------------------------------------------------------------

ALL = {"Admin", "Op", "User", "Viewer"}
WRITERS = {"Admin", "Op", "User"}


def _call(client: httpx.Client, endpoint: str, auth: tuple[str, str]) -> httpx.Response:
    if endpoint == "patch_dags":
        return client.patch(
            "/dags", params={"dag_id_pattern": "~"}, json={"is_paused": True}, auth=auth
        )
    if endpoint == "delete_dag":
        return client.delete("/dags/beta", auth=auth)
    if endpoint == "get_dag_details":
        return client.get("/dags/rich/details", auth=auth)
    if endpoint == "get_tasks":
        return client.get("/dags/rich/tasks", auth=auth)
    if endpoint == "get_task":
        return client.get("/dags/rich/tasks/first", auth=auth)
    raise AssertionError(endpoint)


MATRIX = {
    "patch_dags": (WRITERS, 200),
    "delete_dag": (WRITERS, 204),
    "get_dag_details": (ALL, 200),
    "get_tasks": (ALL, 200),
    "get_task": (ALL, 200),
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_default_roles(
    client: httpx.Client, accounts: Any, rich: str, endpoint: str, role: str
) -> None:
    add_dag("beta")
    allowed, success = MATRIX[endpoint]
    response = _call(client, endpoint, accounts[role].auth)
    expected = success if role in allowed else 403
    assert response.status_code == expected, (endpoint, role, response.text)


def test_anonymous_is_unauthenticated(client: httpx.Client, rich: str) -> None:
    for endpoint in MATRIX:
        assert _call(client, endpoint, None).status_code == 401, endpoint  # type: ignore[arg-type]


def test_tasks_need_task_instances_read(client: httpx.Client, rich: str) -> None:
    add_role("DagOnly", {(READ, "DAGs")})
    add_role("DagAndTasks", {(READ, "DAG:rich"), (READ, "Task Instances")})
    dag_only = add_user("dag_only", ["DagOnly"]).auth
    both = add_user("dag_and_tasks", ["DagAndTasks"]).auth
    assert client.get("/dags/rich/details", auth=dag_only).status_code == 200
    assert client.get("/dags/rich/tasks", auth=dag_only).status_code == 403
    assert client.get("/dags/rich/tasks/first", auth=both).status_code == 200
