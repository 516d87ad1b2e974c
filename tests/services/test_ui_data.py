"""The data behind the web pages: DAG list, grid, graph and run/task-instance lists, with a
bounded number of queries whatever the number of DAGs, runs or tasks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from aerovane.authoring import DAG, BashOperator, EmptyOperator, TaskGroup
from aerovane.authoring.edge_labels import Label
from aerovane.authoring.serialization import serialize_dag
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.browse import (
    RunFilter,
    TaskInstanceFilter,
    dag_runs_page,
    task_instances_page,
)
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.dag_list import DagListFilter, dag_list_page
from aerovane.services.dag_runs import trigger_dag_run
from aerovane.services.grid import graph_data, grid_data, mapped_instances, run_task_states
from tests.conftest import counted_statements

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _store(path: str, *dags: DAG, error: str | None = None) -> None:
    with create_session() as session:
        store_parse_result(path, [serialize_dag(d) for d in dags], error, session=session)


def grouped_dag() -> DAG:
    with DAG("grouped", schedule=None, start_date=START, auto_register=False) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("section") as section:
            inner = BashOperator(task_id="inner", bash_command="true")
            with TaskGroup("deep"):
                deepest = BashOperator(task_id="deepest", bash_command="true")
            inner >> deepest
        each = BashOperator.partial(task_id="each").expand(bash_command=["a", "b", "c"])
        start >> Label("go") >> section >> each
    return dag


def _set_state(run_id: str, task_id: str, state: str, try_number: int = 1) -> None:
    with create_session() as session:
        session.execute(
            update(models.TaskInstance)
            .where(models.TaskInstance.run_id == run_id, models.TaskInstance.task_id == task_id)
            .values(state=state, try_number=try_number)
        )


def _expand(run_id: str, task_id: str, states: list[str]) -> None:
    with create_session() as session:
        session.execute(
            delete(models.TaskInstance).where(
                models.TaskInstance.run_id == run_id, models.TaskInstance.task_id == task_id
            )
        )
        for index, state in enumerate(states):
            session.add(
                models.TaskInstance(
                    dag_id="grouped",
                    task_id=task_id,
                    run_id=run_id,
                    map_index=index,
                    state=state,
                    try_number=1,
                )
            )


@pytest.fixture
def two_runs(db: Path) -> tuple[str, str]:
    _store("/dags/grouped.py", grouped_dag())
    with create_session() as session:
        old = trigger_dag_run("grouped", logical_date=START, session=session).run_id
        new = trigger_dag_run(
            "grouped", logical_date=START + dt.timedelta(days=1), session=session
        ).run_id
    _set_state(old, "start", "success")
    _set_state(old, "section.inner", "failed", 2)
    _set_state(old, "section.deep.deepest", "upstream_failed", 0)
    _expand(old, "each", ["success", "failed", "running"])
    _set_state(new, "start", "running")
    return old, new


def test_grid_rows_groups_and_mapped_summaries(two_runs: tuple[str, str]) -> None:
    old, new = two_runs
    with create_session(readonly=True) as session:
        dag = get_serialized_dag("grouped", session=session)
        assert dag is not None
        with counted_statements() as statements:
            grid = grid_data(dag, session=session)
    assert len(statements) == 2
    assert [r.run_id for r in grid.runs] == [old, new]  # oldest on the left
    rows = {r.id: r for r in grid.rows}
    assert [r.id for r in grid.rows] == [
        "start",
        "section",
        "section.inner",
        "section.deep",
        "section.deep.deepest",
        "each",
    ]
    assert rows["section"].kind == "group" and rows["section"].parent is None
    assert rows["section"].children == ["section.inner", "section.deep"]
    assert rows["section.deep"].parent == "section" and rows["section.deep"].depth == 1
    assert rows["section.deep.deepest"].depth == 2
    assert rows["section.inner"].cells[old].state == "failed"
    assert rows["section.inner"].cells[old].try_number == 2
    # A group shows its most urgent child state and counts every child instance.
    assert rows["section"].cells[old].state == "failed"
    assert rows["section"].cells[old].states == {"failed": 1, "upstream_failed": 1}
    assert rows["section.deep"].cells[old].state == "upstream_failed"
    mapped = rows["each"]
    assert mapped.kind == "mapped"
    assert mapped.cells[old].states == {"success": 1, "failed": 1, "running": 1}
    assert mapped.cells[old].state == "failed" and mapped.cells[old].total == 3
    assert rows["start"].cells[new].state == "running"
    assert rows["section"].cells[new].state is None  # not started yet


def test_grid_filters_and_bounds(two_runs: tuple[str, str]) -> None:
    old, new = two_runs
    with create_session() as session:
        session.execute(
            update(models.DagRun).where(models.DagRun.run_id == old).values(state="failed")
        )
    with create_session(readonly=True) as session:
        dag = get_serialized_dag("grouped", session=session)
        assert dag is not None
        assert [r.run_id for r in grid_data(dag, run_state="failed", session=session).runs] == [old]
        assert [r.run_id for r in grid_data(dag, num_runs=1, session=session).runs] == [new]
        assert grid_data(dag, run_type="scheduled", session=session).runs == []


def test_mapped_instances_and_run_states(two_runs: tuple[str, str]) -> None:
    old, _ = two_runs
    with create_session(readonly=True) as session:
        instances = mapped_instances("grouped", old, "each", session=session)
        states = run_task_states("grouped", old, session=session)
    assert [(i.map_index, i.state) for i in instances] == [
        (0, "success"),
        (1, "failed"),
        (2, "running"),
    ]
    assert states["each"] == "failed" and states["start"] == "success"


def test_graph_has_nodes_labelled_edges_and_nested_groups(db: Path) -> None:
    _store("/dags/grouped.py", grouped_dag())
    with create_session(readonly=True) as session:
        dag = get_serialized_dag("grouped", session=session)
    assert dag is not None
    graph = graph_data(dag)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["section.deep.deepest"]["group"] == "section.deep"
    assert nodes["start"]["group"] is None and nodes["each"]["is_mapped"]
    assert {"source": "start", "target": "section.inner", "label": "go"} in graph["edges"]
    assert {"source": "section.deep.deepest", "target": "each", "label": None} in graph["edges"]
    groups = {g["id"]: g for g in graph["groups"]}
    assert groups["section.deep"]["parent"] == "section" and groups["section"]["parent"] is None


#: By `i % 4`: odd DAGs every 6 hours, one in four daily, the rest unscheduled.
_SCHEDULES = {1: dt.timedelta(hours=6), 2: "@daily", 3: dt.timedelta(hours=6)}


def _many_dags(count: int) -> None:
    dags = []
    for i in range(count):
        with DAG(
            f"dag_{i:03d}",
            schedule=_SCHEDULES.get(i % 4),
            start_date=START,
            tags=["even"] if i % 2 == 0 else ["odd", "team"],
            default_args={"owner": "alice" if i % 3 == 0 else "bob"},
            is_paused_upon_creation=i % 4 == 0,
            auto_register=False,
        ) as dag:
            EmptyOperator(task_id="t")
        dags.append(dag)
    _store("/dags/many.py", *dags)


def test_dag_list_filters_pagination_and_recent_runs(db: Path) -> None:
    _many_dags(30)
    _store("/dags/broken.py", error="SyntaxError: boom")
    with create_session() as session:
        for day in range(7):
            trigger_dag_run("dag_001", logical_date=START + dt.timedelta(days=day), session=session)
    with create_session() as session:
        session.execute(
            update(models.DagRun)
            .where(models.DagRun.logical_date == START + dt.timedelta(days=6))
            .values(state="failed")
        )
    with create_session(readonly=True) as session:
        page = dag_list_page(DagListFilter(), offset=0, limit=10, session=session)
        assert page.total == 30 and [i.dag_id for i in page.items][:2] == ["dag_000", "dag_001"]
        assert page.import_error_count == 1
        assert page.all_tags == ["even", "odd", "team"] and page.all_owners == ["alice", "bob"]
        first = {i.dag_id: i for i in page.items}
        assert first["dag_000"].is_paused and not first["dag_001"].is_paused
        assert first["dag_001"].tags == ["odd", "team"]
        recent = first["dag_001"].recent_runs
        assert len(recent) == 5 and recent[0].state == "failed"  # newest first
        assert recent[0].logical_date == START + dt.timedelta(days=6)
        assert first["dag_001"].run_counts == {
            "queued": 6,
            "running": 0,
            "success": 0,
            "failed": 1,
        }
        assert first["dag_001"].next_dagrun is not None and first["dag_000"].schedule == "None"
        assert first["dag_001"].schedule == "6:00:00"
        assert first["dag_002"].schedule == "@daily"

        second = dag_list_page(DagListFilter(), offset=25, limit=10, session=session)
        assert [i.dag_id for i in second.items] == [f"dag_{i:03d}" for i in range(25, 30)]
        tagged = dag_list_page(DagListFilter(tags=("even",)), session=session)
        assert tagged.total == 15
        assert dag_list_page(DagListFilter(search="DAG_02"), session=session).total == 10
        assert dag_list_page(DagListFilter(owner="alice"), session=session).total == 10
        assert dag_list_page(DagListFilter(paused=True), session=session).total == 8
        assert dag_list_page(DagListFilter(paused=False), session=session).total == 22
        mine = dag_list_page(DagListFilter(readable={"dag_003", "dag_004"}), session=session)
        assert [i.dag_id for i in mine.items] == ["dag_003", "dag_004"]
        assert mine.import_error_count == 0  # the broken file defines none of them


def test_dag_list_query_count_does_not_grow(db: Path) -> None:
    _many_dags(40)
    with create_session(readonly=True) as session:
        with counted_statements() as small:
            dag_list_page(DagListFilter(), limit=5, session=session)
        with counted_statements() as large:
            dag_list_page(DagListFilter(tags=("odd",)), limit=50, session=session)
    assert len(small) == len(large) <= 8


def test_run_and_task_instance_pages(two_runs: tuple[str, str]) -> None:
    old, new = two_runs
    with create_session(readonly=True) as session:
        runs = dag_runs_page(RunFilter(dag_id="grouped"), session=session)
        assert runs.total == 2 and [r.run_id for r in runs.rows] == [new, old]
        assert dag_runs_page(RunFilter(readable=set()), session=session).total == 0
        assert dag_runs_page(RunFilter(run_type="manual"), session=session).total == 2
        assert dag_runs_page(RunFilter(run_id_contains="2024-01-01"), session=session).total == 1
        failed = task_instances_page(TaskInstanceFilter(state="failed"), session=session)
        assert {(r.task_id, r.map_index) for r in failed.rows} == {
            ("section.inner", -1),
            ("each", 1),
        }
        unset = task_instances_page(TaskInstanceFilter(run_id=new, state="none"), session=session)
        assert sorted(r.task_id for r in unset.rows) == [
            "each",
            "section.deep.deepest",
            "section.inner",
        ]
        page = task_instances_page(TaskInstanceFilter(dag_id="grouped"), limit=2, session=session)
        assert len(page.rows) == 2 and page.total == 10
