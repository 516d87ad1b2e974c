"""Clearing an `ExternalTaskMarker` with `include_subdags` clears the task it points at in the
other DAG and that task's downstream, following further markers up to `recursion_depth`, as
Airflow's `DAG.clear(include_subdags=True)` does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.api.conftest import add_run, update_ti
from tests.api.test_clear_and_set_state import store_dag
from tests.api.test_errors import assert_problem
from tests.api.test_task_instances_more import ti_row

D1 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
D2 = dt.datetime(2024, 3, 2, tzinfo=dt.UTC)
DONE = {"state": "success", "start_date": D1, "end_date": D1, "duration": 0.0, "try_number": 1}


def _dags(depth: int = 10) -> None:
    from aerovane.authoring import DAG, EmptyOperator
    from aerovane.authoring.sensors import ExternalTaskMarker

    with DAG("parent", schedule=None, start_date=D1, auto_register=False) as parent:
        EmptyOperator(task_id="p1") >> ExternalTaskMarker(
            task_id="mark",
            external_dag_id="child",
            external_task_id="c1",
            recursion_depth=depth,
        )
    with DAG("child", schedule=None, start_date=D1, auto_register=False) as child:
        c1 = EmptyOperator(task_id="c1", retries=2)
        c1 >> EmptyOperator(task_id="c2")
        c1 >> ExternalTaskMarker(
            task_id="mark_grand",
            external_dag_id="grand",
            external_task_id="g1",
            execution_date="{{ macros.ds_add(ds, 1) }}",
        )
        EmptyOperator(task_id="unrelated")
    with DAG("grand", schedule=None, start_date=D1, auto_register=False) as grand:
        EmptyOperator(task_id="g1")
    for dag in (parent, child, grand):
        dag.fileloc = f"/opt/dags/{dag.dag_id}.py"
        store_dag(dag)
    add_run("parent", "p_run", logical_date=D1, state="success")
    add_run("child", "c_run", logical_date=D1, state="success")
    add_run("child", "c_other", logical_date=D2, state="success")
    add_run("grand", "g_run", logical_date=D2, state="success")
    for dag_id, run_id, tasks in (
        ("parent", "p_run", ("p1", "mark")),
        ("child", "c_run", ("c1", "c2", "mark_grand", "unrelated")),
        ("child", "c_other", ("c1", "c2", "mark_grand", "unrelated")),
        ("grand", "g_run", ("g1",)),
    ):
        for task_id in tasks:
            update_ti(dag_id, run_id, task_id, **DONE)


@pytest.fixture
def markers(accounts: Any) -> None:
    _dags()


def _refs(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(
        f"{r['dag_id']}.{r['dag_run_id']}.{r['task_id']}" for r in response.json()["task_instances"]
    )


def _clear(client: httpx.Client, auth: httpx.BasicAuth, **body: Any) -> httpx.Response:
    payload = {"task_ids": ["mark"], "only_failed": False, "dag_run_id": "p_run", **body}
    return client.post("/dags/parent/clearTaskInstances", json=payload, auth=auth)


def test_marker_reaches_the_dependent_dags_only_with_include_subdags(
    client: httpx.Client, admin: httpx.BasicAuth, markers: None
) -> None:
    assert _refs(_clear(client, admin)) == ["parent.p_run.mark"]
    assert _refs(_clear(client, admin, include_subdags=True)) == [
        "child.c_run.c1",
        "child.c_run.c2",
        "child.c_run.mark_grand",
        "grand.g_run.g1",  # the child's marker renders ds_add(ds, 1): the next day's run
        "parent.p_run.mark",
    ]
    assert ti_row("child", "c_run", "c1").state == "success"  # a dry run changes nothing


def test_clearing_through_markers_resets_the_other_dags(
    client: httpx.Client, admin: httpx.BasicAuth, markers: None
) -> None:
    response = _clear(client, admin, include_subdags=True, dry_run=False, reset_dag_runs=True)
    assert len(_refs(response)) == 5
    c1 = ti_row("child", "c_run", "c1")
    assert (c1.state, c1.max_tries) == (None, 1 + 2)  # the child's own retries come back
    assert ti_row("grand", "g_run", "g1").state is None
    assert ti_row("child", "c_run", "unrelated").state == "success"
    assert ti_row("child", "c_other", "c1").state == "success"


def test_recursion_depth_is_enforced(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any
) -> None:
    _dags(depth=1)
    response = _clear(client, admin, include_subdags=True)
    assert_problem(response, 400)
    assert "Maximum recursion depth 1" in response.text
