"""Edge labels (`Label`): edges through a label, their recorded info, groups and lists."""

from __future__ import annotations

import datetime as dt

import pytest

from aerovane.authoring import DAG, EmptyOperator, TaskGroup, task
from aerovane.authoring.edge_labels import Label
from aerovane.authoring.serialization import SerializedDAG, serialize_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_label_between_tasks_lists_and_groups() -> None:
    with DAG("labels", schedule=None, start_date=START) as dag:
        check = EmptyOperator(task_id="check")
        save = EmptyOperator(task_id="save")
        describe = EmptyOperator(task_id="describe")
        report = EmptyOperator(task_id="report")
        check >> Label("No errors") >> save >> report
        check >> Label("Errors found") >> describe >> report
        with TaskGroup("g") as g:
            EmptyOperator(task_id="inner")
        [save, describe] >> Label("into group") >> g
        report << Label("backwards") << g

        @task
        def produce() -> int:
            return 1

        produce() >> Label("from xcom") >> report
    assert check.downstream_task_ids == {"save", "describe"}
    assert dag.get_edge_info("check", "save") == {"label": "No errors"}
    assert dag.get_edge_info("check", "describe") == {"label": "Errors found"}
    assert dag.get_edge_info("save", "report") == {}
    assert dag.get_edge_info("describe", "g.inner") == {"label": "into group"}
    assert dag.get_edge_info("g.inner", "report") == {"label": "backwards"}
    assert dag.get_edge_info("produce", "report") == {"label": "from xcom"}
    assert dag.get_task("report").upstream_task_ids == {"save", "describe", "g.inner", "produce"}
    copy = SerializedDAG.from_dict(serialize_dag(dag))
    assert copy.edge_info["check"]["save"] == {"label": "No errors"}


def test_label_rejects_non_tasks() -> None:
    with (
        DAG("labels_bad", schedule=None, start_date=START),
        pytest.raises(TypeError, match="Cannot use edge labels with str"),
    ):
        Label("x") >> "not a task"  # type: ignore[operator]
