"""`sla` and `sla_miss_callback` as DAG files declare them (the misses: tests/engine)."""

from __future__ import annotations

import datetime as dt

import pytest

from aerovane.authoring import DAG, EmptyOperator
from aerovane.authoring.exceptions import AerovaneDagError
from aerovane.authoring.serialization import serialize_dag


def test_sla_must_be_a_timedelta() -> None:
    with pytest.raises(AerovaneDagError, match=r"sla must be a datetime\.timedelta"):
        EmptyOperator(task_id="t", sla=30)  # type: ignore[arg-type]


def test_sla_email_and_callback_are_serialized() -> None:
    with DAG("sla_ser", schedule=None, sla_miss_callback=lambda *a: None) as dag:
        EmptyOperator(task_id="a", sla=dt.timedelta(minutes=5), email="x@example.com")
        EmptyOperator(task_id="b")
    data = serialize_dag(dag)
    tasks = {t["task_id"]: t for t in data["tasks"]}
    assert tasks["a"]["sla"] == 300.0 and tasks["a"]["email"] == ["x@example.com"]
    assert tasks["b"]["sla"] is None and tasks["b"]["email"] == []
    assert data["has_sla_miss_callback"] is True
