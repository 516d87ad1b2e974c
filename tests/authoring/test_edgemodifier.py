"""Edge labels: `a >> Label("x") >> b` and friends, and their serialization."""

from __future__ import annotations

import pytest

from aerovane.authoring import DAG, EmptyOperator, Label
from aerovane.authoring.serialization import SerializedDAG, serialize_dag


def test_label_between_two_tasks() -> None:
    with DAG("labels", schedule=None) as dag:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> Label("when ready") >> b
    assert b.upstream_task_ids == {"a"}
    assert dag.get_edge_info("a", "b") == {"label": "when ready"}


def test_label_to_and_from_lists_and_leftwards() -> None:
    with DAG("labels_lists", schedule=None) as dag:
        a, b, c, d = (EmptyOperator(task_id=t) for t in "abcd")
        a >> Label("fan out") >> [b, c]
        d << Label("back") << [b, c]
    assert a.downstream_task_ids == {"b", "c"}
    assert d.upstream_task_ids == {"b", "c"}
    assert dag.edge_info == {
        "a": {"b": {"label": "fan out"}, "c": {"label": "fan out"}},
        "b": {"d": {"label": "back"}},
        "c": {"d": {"label": "back"}},
    }


def test_labels_are_serialized() -> None:
    with DAG("labels_ser", schedule=None) as dag:
        EmptyOperator(task_id="a") >> Label("go") >> EmptyOperator(task_id="b")
    data = serialize_dag(dag)
    assert data["edge_info"] == {"a": {"b": {"label": "go"}}}
    assert SerializedDAG(data).edge_info == {"a": {"b": {"label": "go"}}}


def test_label_needs_text() -> None:
    with pytest.raises(TypeError, match="Label needs a string"):
        Label(3)  # type: ignore[arg-type]


def test_airflow_path() -> None:
    from aerovane.compat import airflow_shim

    airflow_shim.install()
    from airflow.utils.edgemodifier import Label as AirflowLabel

    assert AirflowLabel is Label
