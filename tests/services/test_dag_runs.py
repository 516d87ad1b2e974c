"""Creating runs: validation, duplicates, and concurrent writers losing nothing."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aerovane.authoring import DAG, BashOperator, Param
from aerovane.authoring.serialization import serialize_dag
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.dag_runs import trigger_dag_run
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.fixture
def dag(db: Path) -> str:
    with DAG(
        "svc",
        schedule=None,
        start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        params={"n": Param(1, type="integer", minimum=0)},
    ) as d:
        BashOperator(task_id="a", bash_command="true") >> BashOperator(
            task_id="b", bash_command="true"
        )
    with create_session() as session:
        store_parse_result("/dags/svc.py", [serialize_dag(d)], None, session=session)
    return "svc"


def test_trigger_creates_queued_run_with_task_instances(dag: str) -> None:
    with create_session() as session:
        run = trigger_dag_run(dag, conf={"n": 3}, session=session)
        assert run.state == "queued" and run.external_trigger and run.run_type == "manual"
        assert run.run_id == f"manual__{run.logical_date.isoformat()}"
    with create_session(readonly=True) as session:
        tis = session.scalars(
            select(models.TaskInstance).where(models.TaskInstance.run_id == run.run_id)
        ).all()
    assert sorted(t.task_id for t in tis) == ["a", "b"]
    assert all(t.state is None and t.try_number == 0 for t in tis)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"conf": {"n": -1}}, BadRequest, "n"),
        ({"conf": {"n": "x"}}, BadRequest, "n"),
        ({"run_id": "bad id!"}, BadRequest, "does not match"),
        ({"logical_date": dt.datetime(2024, 1, 1)}, BadRequest, "Naive datetime"),
        # What the CLI's or a task's `json.loads` lets through (issue 14).
        ({"conf": {"x": float("nan")}}, BadRequest, "conf is not valid JSON"),
        ({"conf": {"x": [float("-inf")]}}, BadRequest, "conf is not valid JSON"),
        ({"conf": {"x": "\ud800"}}, BadRequest, "lone surrogate"),
        ({"conf": {"x": _nested(100)}}, BadRequest, "nested deeper than 64"),
        ({"run_id": "r" * 251}, BadRequest, "longer than 250"),
    ],
)
def test_invalid_triggers(dag: str, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message), create_session() as session:
        trigger_dag_run(dag, session=session, **kwargs)
    with create_session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(models.DagRun)) == 0


def test_unknown_dag_and_duplicates(dag: str) -> None:
    with pytest.raises(NotFound), create_session() as session:
        trigger_dag_run("nope", session=session)
    with create_session() as session:
        trigger_dag_run(dag, run_id="fixed", session=session)
    with pytest.raises(AlreadyExists), create_session() as session:
        trigger_dag_run(dag, run_id="fixed", session=session)
    when = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with create_session() as session:
        trigger_dag_run(dag, logical_date=when, session=session)
    with pytest.raises(AlreadyExists), create_session() as session:
        trigger_dag_run(dag, logical_date=when, session=session)


def test_concurrent_triggers_never_collide_or_lose_rows(dag: str, monkeypatch) -> None:
    # Every trigger gets the same "now", the worst case for auto-generated ids.
    frozen = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr("aerovane.services.dag_runs.utcnow", lambda: frozen)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(15):
                with create_session() as session:
                    if i % 3 == 0:
                        trigger_dag_run(
                            dag,
                            run_id=f"w{n}-{i}",
                            logical_date=frozen + dt.timedelta(days=n + 1, seconds=i),
                            session=session,
                        )
                    else:
                        trigger_dag_run(dag, session=session)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with create_session(readonly=True) as session:
        runs = session.scalar(select(func.count()).select_from(models.DagRun))
        tis = session.scalar(select(func.count()).select_from(models.TaskInstance))
        distinct = session.scalar(select(func.count(func.distinct(models.DagRun.run_id))))
    assert runs == distinct == 90
    assert tis == 180
