"""One task instance: get (and the mapped forms), mark via PATCH, notes, dependencies, tries,
extra links; the batch list; who may call each of them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from aerovane.api.v1.datamodels.task_instances import (
    ExtraLinkCollectionResponse,
    TaskInstanceCollectionResponse,
    TaskInstanceDependencyCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceReferenceResponse,
    TaskInstanceResponse,
)
from aerovane.auth.permissions import READ
from tests.api.conftest import add_dag, add_role, add_run, add_user, count_queries, update_ti
from tests.api.test_errors import assert_problem

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 2, tzinfo=UTC)
RUN1 = "/dags/etl/dagRuns/run_1/taskInstances"
ALL = {"Admin", "Op", "User", "Viewer"}
WRITERS = {"Admin", "Op", "User"}


# -- helpers shared with the other task instance test modules -----------------------------------


def ti_row(dag_id: str, run_id: str, task_id: str) -> Any:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        ti = session.get(models.TaskInstance, (dag_id, task_id, run_id, -1))
        assert ti is not None
        session.expunge(ti)
        return ti


def run_row(dag_id: str, run_id: str) -> Any:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        run = session.scalar(
            select(models.DagRun).where(
                models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
            )
        )
        assert run is not None
        session.expunge(run)
        return run


def add_history(dag_id: str, run_id: str, task_id: str, try_number: int, **values: Any) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        session.execute(
            insert(models.TaskInstanceHistory).values(
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=-1,
                try_number=try_number,
                **values,
            )
        )


def history(dag_id: str, run_id: str, task_id: str) -> list[Any]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    tih = models.TaskInstanceHistory
    with create_session(readonly=True) as session:
        rows = session.scalars(
            select(tih)
            .where(tih.dag_id == dag_id, tih.run_id == run_id, tih.task_id == task_id)
            .order_by(tih.try_number)
        ).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def audit_events() -> list[str]:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.EventLog.event).order_by(models.EventLog.id)))


def set_dag(dag_id: str, **values: Any) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        row = session.get(models.DagModel, dag_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


def set_run(dag_id: str, run_id: str, **values: Any) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        run = session.scalar(
            select(models.DagRun).where(
                models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
            )
        )
        assert run is not None
        for key, value in values.items():
            setattr(run, key, value)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def tis(accounts: Any) -> None:
    add_dag("etl", task_ids=("extract", "transform", "load"))
    add_dag("other", task_ids=("only",))
    add_run("etl", "run_1", logical_date=D1, state="running")
    add_run("etl", "run_2", logical_date=D2)
    add_run("other", "run_o", logical_date=D1)
    update_ti(
        "etl",
        "run_1",
        "extract",
        state="success",
        try_number=2,
        start_date=D1,
        end_date=D1 + dt.timedelta(seconds=30),
        duration=30.0,
        hostname="worker-1",
        unixname="aerovane",
        pid=4242,
        queued_dttm=D1,
        executor="LocalExecutor",
    )
    add_history(
        "etl",
        "run_1",
        "extract",
        1,
        state="scheduled",  # what the scheduler's requeue archives for a retried try
        start_date=D1 - dt.timedelta(minutes=5),
        end_date=D1 - dt.timedelta(minutes=4),
        duration=60.0,
        hostname="worker-0",
        pool="default_pool",
        pool_slots=1,
        queue="default",
        priority_weight=3,
        operator="EmptyOperator",
    )


# -- get ----------------------------------------------------------------------------------------


def test_get_task_instance(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    response = client.get(f"{RUN1}/extract", auth=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    TaskInstanceResponse.model_validate(body)
    assert body["task_id"] == "extract"
    assert body["dag_run_id"] == "run_1"
    assert body["execution_date"] == "2024-03-01T00:00:00+00:00"
    assert body["state"] == "success"
    assert body["try_number"] == 2
    assert body["map_index"] == -1
    assert body["hostname"] == "worker-1"
    load = client.get(f"{RUN1}/load", auth=admin).json()
    assert load["state"] is None and load["executor_config"] == "{}"


def test_get_missing_task_instance(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    for url in (
        f"{RUN1}/nope",
        "/dags/etl/dagRuns/nope/taskInstances/extract",
        "/dags/x/dagRuns/run_1/taskInstances/extract",
    ):
        assert_problem(
            client.get(url, auth=admin), 404, title="Task instance not found", detail=None
        )


def test_mapped_urls_find_nothing(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    # Aerovane has no mapped task instances: map index -1 is the only one.
    for suffix in ("0", "3", "0/dependencies", "0/tries", "0/tries/1"):
        assert_problem(client.get(f"{RUN1}/extract/{suffix}", auth=admin), 404)
    assert_problem(
        client.get(f"{RUN1}/extract/0", auth=admin),
        404,
        title="Task instance not found",
        detail=None,
    )
    # As in Airflow (an unsigned int converter), a negative index is no route at all.
    assert_problem(client.get(f"{RUN1}/extract/-1", auth=admin), 404, type="about:blank")
    assert_problem(
        client.patch(f"{RUN1}/extract/0", json={"new_state": "failed"}, auth=admin),
        404,
        detail="Task instance not found for task 'extract' on DAG run with ID 'run_1'",
    )
    assert_problem(
        client.patch(f"{RUN1}/extract/0/setNote", json={"note": "x"}, auth=admin),
        404,
        title="Task Instance not found for dag_id=etl, run_id=run_1, task_id=extract",
    )


def test_list_mapped(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    assert_problem(
        client.get(f"{RUN1}/extract/listMapped", auth=admin),
        404,
        title="Task id extract is not mapped",
        detail=None,
    )
    assert_problem(
        client.get(f"{RUN1}/nope/listMapped", auth=admin), 404, title="Task id nope not found"
    )
    assert_problem(
        client.get("/dags/ghost/dagRuns/r/taskInstances/t/listMapped", auth=admin),
        404,
        title="DAG ghost not found",
    )
    params = {"state": "success", "order_by": "-start_date", "limit": 5, "duration_gte": 1}
    assert_problem(client.get(f"{RUN1}/extract/listMapped", params=params, auth=admin), 404)
    assert_problem(
        client.get(f"{RUN1}/extract/listMapped", params={"start_date_gte": "x"}, auth=admin),
        400,
        title="Incorrect datetime argument",
    )
    assert_problem(
        client.get(f"{RUN1}/extract/listMapped", params={"bogus": 1}, auth=admin),
        400,
        detail="Extra query parameter(s) bogus not in spec",
    )


# -- PATCH (mark one task instance) -------------------------------------------------------------


def test_patch_dry_run_is_the_default(
    client: httpx.Client, admin: httpx.BasicAuth, tis: None
) -> None:
    response = client.patch(f"{RUN1}/load", json={"new_state": "success"}, auth=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    TaskInstanceReferenceResponse.model_validate(body)
    assert body == {
        "task_id": "load",
        "dag_id": "etl",
        "execution_date": "2024-03-01T00:00:00+00:00",
        "dag_run_id": "run_1",
    }
    assert ti_row("etl", "run_1", "load").state is None


def test_patch_marks_the_task_instance(
    client: httpx.Client, admin: httpx.BasicAuth, tis: None
) -> None:
    response = client.patch(
        f"{RUN1}/load", json={"dry_run": False, "new_state": "skipped"}, auth=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["task_id"] == "load"
    load = ti_row("etl", "run_1", "load")
    assert load.state == "skipped"
    assert load.start_date is not None and load.end_date == load.start_date
    assert load.duration == 0.0
    # Other task instances are untouched; the run is left for the scheduler.
    assert ti_row("etl", "run_1", "transform").state is None
    assert run_row("etl", "run_1").state == "running"
    assert "api.patch_task_instance" in audit_events()


def test_patch_running_task_instance_ends_it_now(
    client: httpx.Client, admin: httpx.BasicAuth, tis: None
) -> None:
    started = dt.datetime.now(UTC) - dt.timedelta(minutes=2)
    update_ti("etl", "run_1", "transform", state="running", try_number=1, start_date=started)
    response = client.patch(
        f"{RUN1}/transform", json={"dry_run": False, "new_state": "failed"}, auth=admin
    )
    assert response.status_code == 200, response.text
    transform = ti_row("etl", "run_1", "transform")
    assert transform.state == "failed"
    assert transform.start_date == started
    assert transform.end_date is not None and transform.end_date > started
    assert transform.duration == pytest.approx((transform.end_date - started).total_seconds())


def test_patch_errors(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    assert_problem(client.patch(f"{RUN1}/load", json={"new_state": "running"}, auth=admin), 400)
    assert_problem(client.patch(f"{RUN1}/load", json={"dry_run": False}, auth=admin), 400)
    assert_problem(
        client.patch(f"{RUN1}/load", json={"new_state": "success", "x": 1}, auth=admin), 400
    )
    assert_problem(
        client.patch(f"{RUN1}/load", auth=admin), 400, detail="Request body must not be empty"
    )
    assert_problem(
        client.patch(
            "/dags/ghost/dagRuns/run_1/taskInstances/load",
            json={"new_state": "success"},
            auth=admin,
        ),
        404,
        title="DAG not found",
        detail="DAG 'ghost' not found",
    )
    assert_problem(
        client.patch(f"{RUN1}/nope", json={"new_state": "success"}, auth=admin),
        404,
        title="Task not found",
        detail="Task 'nope' not found in DAG 'etl'",
    )
    assert_problem(
        client.patch(
            "/dags/etl/dagRuns/nope/taskInstances/load", json={"new_state": "success"}, auth=admin
        ),
        404,
        title="Not Found",
        detail="Task instance not found for task 'load' on DAG run with ID 'nope'",
    )


# -- notes --------------------------------------------------------------------------------------


def test_set_note(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    response = client.patch(f"{RUN1}/extract/setNote", json={"note": "looked fine"}, auth=admin)
    assert response.status_code == 200, response.text
    TaskInstanceResponse.model_validate(response.json())
    assert response.json()["note"] == "looked fine"
    assert client.get(f"{RUN1}/extract", auth=admin).json()["note"] == "looked fine"
    response = client.patch(f"{RUN1}/extract/setNote", json={"note": ""}, auth=admin)
    assert response.json()["note"] == ""
    assert audit_events().count("api.set_task_instance_note") == 2


def test_set_note_errors(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    assert_problem(
        client.patch(f"{RUN1}/extract/setNote", json={"note": "x" * 1001}, auth=admin),
        400,
        detail="{'note': ['Longer than maximum length 1000.']}",
    )
    assert_problem(client.patch(f"{RUN1}/extract/setNote", json={"note": None}, auth=admin), 400)
    assert_problem(client.patch(f"{RUN1}/extract/setNote", json={}, auth=admin), 400)
    assert_problem(
        client.patch(f"{RUN1}/nope/setNote", json={"note": "x"}, auth=admin),
        404,
        title="Task Instance not found for dag_id=etl, run_id=run_1, task_id=nope",
        detail=None,
    )


# -- dependencies -------------------------------------------------------------------------------


def _deps(client: httpx.Client, auth: httpx.BasicAuth, task_id: str) -> dict[str, str]:
    response = client.get(f"{RUN1}/{task_id}/dependencies", auth=auth)
    assert response.status_code == 200, response.text
    TaskInstanceDependencyCollectionResponse.model_validate(response.json())
    return {d["name"]: d["reason"] for d in response.json()["dependencies"]}


def test_dependencies_runnable_and_finished(
    client: httpx.Client, admin: httpx.BasicAuth, tis: None
) -> None:
    # extract succeeded (not waiting: nothing to report); transform's upstream is done.
    assert _deps(client, admin, "extract") == {}
    assert _deps(client, admin, "transform") == {}
    update_ti("etl", "run_1", "transform", state="scheduled")
    assert _deps(client, admin, "transform") == {}


def test_dependencies_trigger_rule(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    deps = _deps(client, admin, "load")
    assert list(deps) == ["Trigger Rule"]
    assert deps["Trigger Rule"] == (
        "Task's trigger rule 'all_success' requires all upstream tasks to have succeeded, but "
        "found 1 non-success(es). upstream_states=_UpstreamTIStates(success=0, skipped=0, "
        "failed=0, upstream_failed=0, removed=0, done=0, success_setup=0, skipped_setup=0), "
        "upstream_task_ids={'transform'}"
    )
    update_ti("etl", "run_1", "transform", state="failed")
    assert "found 1 non-success(es)" in _deps(client, admin, "load")["Trigger Rule"]
    assert "failed=1" in _deps(client, admin, "load")["Trigger Rule"]


def test_dependencies_run_pause_pool_and_limits(
    client: httpx.Client, admin: httpx.BasicAuth, tis: None
) -> None:
    set_run("etl", "run_1", state="queued")
    set_dag("etl", is_paused=True)
    deps = _deps(client, admin, "transform")
    assert deps == {
        "Dag Not Paused": "Task's DAG 'etl' is paused.",
        "Dagrun Running": (
            "Task instance's dagrun was not in the 'running' state but in the state 'queued'."
        ),
    }
    set_run("etl", "run_1", state="running")
    set_dag("etl", is_paused=False, max_active_tasks=1)
    update_ti("etl", "run_2", "extract", state="running")
    assert _deps(client, admin, "transform") == {
        "Task Instance Slots Available": (
            "The maximum number of running tasks (1) for this task's DAG 'etl' has been reached."
        )
    }
    set_dag("etl", max_active_tasks=16)
    update_ti("etl", "run_1", "transform", pool="nowhere")
    assert _deps(client, admin, "transform") == {
        "Pool Slots Available": "Tasks using non-existent pool 'nowhere' will not be scheduled"
    }
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        session.add(models.Pool(pool="tiny", slots=1))
    update_ti("etl", "run_1", "transform", pool="tiny", pool_slots=2)
    assert _deps(client, admin, "transform") == {
        "Pool Slots Available": (
            "Not scheduling since there are 1 open slots in pool tiny and require 2 pool slots"
        )
    }


def test_dependencies_not_found(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    assert_problem(
        client.get(f"{RUN1}/nope/dependencies", auth=admin),
        404,
        title="Task Instance not found for dag_id=etl, run_id=run_1, task_id=nope",
    )


# -- tries --------------------------------------------------------------------------------------


def test_tries(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    response = client.get(f"{RUN1}/extract/tries", auth=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    TaskInstanceHistoryCollectionResponse.model_validate(body)
    assert body["total_entries"] == 2
    assert body["task_instances"] == body["task_instances_history"]
    first, second = body["task_instances"]
    # The archived try was retried: it ended without a result of its own.
    assert (first["try_number"], first["state"], first["hostname"]) == (1, "failed", "worker-0")
    assert first["duration"] == 60.0 and first["executor_config"] == "{}"
    assert (second["try_number"], second["state"], second["hostname"]) == (2, "success", "worker-1")
    assert set(first) == set(TaskInstanceHistoryResponse.model_fields)

    newest_first = client.get(
        f"{RUN1}/extract/tries", params={"order_by": "-try_number", "limit": 1}, auth=admin
    ).json()
    assert [t["try_number"] for t in newest_first["task_instances"]] == [2]
    assert newest_first["total_entries"] == 2
    page_2 = client.get(f"{RUN1}/extract/tries", params={"offset": 1}, auth=admin).json()
    assert [t["try_number"] for t in page_2["task_instances"]] == [2]
    # Never run: its only "try" is the task instance itself, try 0.
    load = client.get(f"{RUN1}/load/tries", auth=admin).json()
    assert [(t["try_number"], t["state"]) for t in load["task_instances"]] == [(0, None)]


def test_try_details(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    first = client.get(f"{RUN1}/extract/tries/1", auth=admin)
    assert first.status_code == 200, first.text
    TaskInstanceHistoryResponse.model_validate(first.json())
    assert first.json()["state"] == "failed"
    assert client.get(f"{RUN1}/extract/tries/2", auth=admin).json()["state"] == "success"
    assert_problem(
        client.get(f"{RUN1}/extract/tries/3", auth=admin),
        404,
        title="Task instance not found",
        detail=(
            "Task Instance not found for dag_id=etl, run_id=run_1, task_id=extract, "
            "map_index=-1, try_number=3."
        ),
    )


def test_tries_errors(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    assert_problem(client.get(f"{RUN1}/nope/tries", auth=admin), 404)
    assert_problem(client.get(f"{RUN1}/extract/tries", params={"order_by": "pid"}, auth=admin), 400)
    assert_problem(client.get(f"{RUN1}/extract/tries", params={"limit": -1}, auth=admin), 400)


# -- extra links --------------------------------------------------------------------------------


def test_extra_links(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    response = client.get(f"{RUN1}/extract/links", auth=admin)
    assert response.status_code == 200, response.text
    ExtraLinkCollectionResponse.model_validate(response.json())
    assert response.json() == {"extra_links": []}
    assert_problem(
        client.get("/dags/ghost/dagRuns/run_1/taskInstances/extract/links", auth=admin),
        404,
        title="DAG not found",
        detail='DAG with ID = "ghost" not found',
    )
    assert_problem(
        client.get(f"{RUN1}/nope/links", auth=admin),
        404,
        title="Task not found",
        detail='Task with ID = "nope" not found',
    )
    assert_problem(
        client.get("/dags/etl/dagRuns/nope/taskInstances/extract/links", auth=admin),
        404,
        title="DAG Run not found",
        detail='DAG Run with ID = "nope" not found',
    )
    assert_problem(client.get(f"{RUN1}/extract/links", params={"map_index": 2}, auth=admin), 404)


# -- batch list ---------------------------------------------------------------------------------

BATCH = "/dags/~/dagRuns/~/taskInstances/list"


def _batch(client: httpx.Client, auth: Any, **form: Any) -> list[str]:
    response = client.post(BATCH, json=form, auth=auth)
    assert response.status_code == 200, response.text
    TaskInstanceCollectionResponse.model_validate(response.json())
    return [
        f"{t['dag_id']}.{t['dag_run_id']}.{t['task_id']}" for t in response.json()["task_instances"]
    ]


def test_batch_filters(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    update_ti("etl", "run_2", "extract", state="failed", duration=5.0, queue="fast")
    assert len(_batch(client, admin)) == 7
    assert _batch(client, admin, dag_ids=["other"]) == ["other.run_o.only"]
    assert _batch(client, admin, dag_run_ids=["run_2"], task_ids=["extract", "load"]) == [
        "etl.run_2.extract",
        "etl.run_2.load",
    ]
    assert _batch(client, admin, state=["success", "failed"]) == [
        "etl.run_1.extract",
        "etl.run_2.extract",
    ]
    assert len(_batch(client, admin, state=[None])) == 5
    assert len(_batch(client, admin, state=["none", "failed"])) == 6
    assert _batch(client, admin, queue=["fast"]) == ["etl.run_2.extract"]
    assert _batch(client, admin, pool=["nope"]) == []
    assert _batch(client, admin, executor=["LocalExecutor"]) == ["etl.run_1.extract"]
    assert _batch(client, admin, duration_gte=10) == ["etl.run_1.extract"]
    assert _batch(client, admin, duration_lte=10) == ["etl.run_2.extract"]
    assert _batch(client, admin, execution_date_gte="2024-03-02T00:00:00Z", state=["failed"]) == [
        "etl.run_2.extract"
    ]
    assert _batch(
        client, admin, execution_date_lte="2024-03-01T00:00:00+00:00", dag_ids=["etl"]
    ) == ["etl.run_1.extract", "etl.run_1.load", "etl.run_1.transform"]
    assert _batch(client, admin, start_date_gte="2024-03-01T00:00:00Z") == ["etl.run_1.extract"]
    assert _batch(client, admin, start_date_lte="2024-02-01T00:00:00Z") == []
    assert _batch(client, admin, end_date_gte="2024-03-01T00:00:10Z") == ["etl.run_1.extract"]
    assert _batch(client, admin, end_date_lte="2024-03-01T00:00:10Z") == []
    assert _batch(client, admin, dag_ids=[]) == _batch(client, admin)


def test_batch_paging(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    first = client.post(BATCH, json={"page_limit": 4}, auth=admin).json()
    rest = client.post(BATCH, json={"page_limit": 4, "page_offset": 4}, auth=admin).json()
    assert first["total_entries"] == rest["total_entries"] == 7
    keys = [(t["dag_id"], t["dag_run_id"], t["task_id"]) for t in first["task_instances"]]
    keys += [(t["dag_id"], t["dag_run_id"], t["task_id"]) for t in rest["task_instances"]]
    assert len(keys) == 7 and keys == sorted(keys)


def test_batch_bad_forms(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    for form in (
        {"page_limit": 0},
        {"page_offset": -1},
        {"state": ["sleeping"]},
        {"dag_ids": "etl"},
        {"unknown": 1},
        {"start_date_gte": "2024-03-01T00:00:00"},
        {"duration_gte": "long"},
    ):
        assert_problem(client.post(BATCH, json=form, auth=admin), 400)
    assert_problem(client.post(BATCH, auth=admin), 400, detail="Request body must not be empty")


def test_batch_query_count_does_not_grow(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    add_dag("wide", task_ids=tuple(f"t{i}" for i in range(3)))
    add_run("wide", "r1", logical_date=D1)
    with count_queries() as few:
        client.post(BATCH, json={"dag_ids": ["wide"]}, auth=admin)
    add_dag("wider", task_ids=tuple(f"t{i:02d}" for i in range(40)))
    add_run("wider", "r1", logical_date=D1)
    with count_queries() as many:
        response = client.post(BATCH, json={"dag_ids": ["wider"]}, auth=admin)
    assert response.json()["total_entries"] == 40
    assert len(many) == len(few), many


@pytest.fixture
def etl_reader(tis: None) -> tuple[str, str]:
    add_role(
        "EtlReader",
        {(READ, "DAG:etl"), (READ, "DAG Runs"), (READ, "Task Instances")},
    )
    return add_user("etl_reader", ["EtlReader"]).auth


def test_batch_per_dag_access(client: httpx.Client, etl_reader: tuple[str, str]) -> None:
    assert {key.split(".")[0] for key in _batch(client, etl_reader)} == {"etl"}
    assert _batch(client, etl_reader, dag_ids=["etl"])
    assert_problem(
        client.post(BATCH, json={"dag_ids": ["etl", "other"]}, auth=etl_reader),
        403,
        detail="User not allowed to access some of these DAGs: ['etl', 'other']",
    )
    # The per-DAG grant reaches the single task instance endpoints too.
    assert client.get(f"{RUN1}/extract", auth=etl_reader).status_code == 200
    assert (
        client.get("/dags/other/dagRuns/run_o/taskInstances/only", auth=etl_reader).status_code
        == 403
    )


# -- who may call what --------------------------------------------------------------------------


def _call(client: httpx.Client, endpoint: str, auth: tuple[str, str]) -> httpx.Response:
    patch = {"new_state": "success"}
    calls = {
        "get_task_instance": lambda: client.get(f"{RUN1}/extract", auth=auth),
        "patch_task_instance": lambda: client.patch(f"{RUN1}/load", json=patch, auth=auth),
        "set_task_instance_note": lambda: client.patch(
            f"{RUN1}/load/setNote", json={"note": "n"}, auth=auth
        ),
        "get_task_instance_dependencies": lambda: client.get(
            f"{RUN1}/load/dependencies", auth=auth
        ),
        "get_task_instance_tries": lambda: client.get(f"{RUN1}/extract/tries", auth=auth),
        "get_task_instance_try_details": lambda: client.get(f"{RUN1}/extract/tries/1", auth=auth),
        "get_extra_links": lambda: client.get(f"{RUN1}/extract/links", auth=auth),
        "get_task_instances_batch": lambda: client.post(BATCH, json={}, auth=auth),
    }
    return calls[endpoint]()


MATRIX = {
    "get_task_instance": ALL,
    "patch_task_instance": WRITERS,
    "set_task_instance_note": WRITERS,
    "get_task_instance_dependencies": ALL,
    "get_task_instance_tries": ALL,
    "get_task_instance_try_details": ALL,
    "get_extra_links": ALL,
    "get_task_instances_batch": ALL,
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_default_roles(
    client: httpx.Client, accounts: Any, tis: None, endpoint: str, role: str
) -> None:
    response = _call(client, endpoint, accounts[role].auth)
    expected = 200 if role in MATRIX[endpoint] else 403
    assert response.status_code == expected, (endpoint, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"
        assert audit_events() == []


def test_anonymous_is_401(client: httpx.Client, tis: None) -> None:
    assert_problem(client.get(f"{RUN1}/extract"), 401)
    assert_problem(client.patch(f"{RUN1}/load", json={"new_state": "success"}), 401)
    assert_problem(client.post(BATCH, json={}), 401)


def test_response_is_json_safe(client: httpx.Client, admin: httpx.BasicAuth, tis: None) -> None:
    # Every field the client checks is present with a non-null value where it must be.
    body = client.get(f"{RUN1}/transform/tries/0", auth=admin)
    assert body.status_code == 200, body.text
    data = json.loads(body.text)
    assert data["hostname"] == "" and data["pool"] == "default_pool"
