"""`airflow.models` names (TaskInstance, DagRun, XCom) and `airflow.utils.helpers`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aerovane.authoring import DAG, EmptyOperator
from aerovane.authoring.dependencies import chain_linear
from aerovane.authoring.exceptions import AerovaneException
from aerovane.authoring.helpers import (
    as_tuple,
    at_most_one,
    chunks,
    convert_camel_to_snake,
    exactly_one,
    merge_dicts,
    partition,
    validate_key,
)
from aerovane.authoring.models import DagRun, TaskInstance, XCom
from aerovane.runtime import test_mode


def test_runtime_objects_are_airflow_model_instances() -> None:
    with DAG("names", schedule=None) as dag:
        task = EmptyOperator(task_id="t")
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    run = test_mode.TestDagRun(dag.dag_id, "r", now, now, now)
    ti = test_mode.TestTaskInstance(task, run)
    assert isinstance(ti, TaskInstance) and isinstance(run, DagRun)
    assert not isinstance(object(), TaskInstance)


def test_xcom_get_one_asks_the_running_task_instance() -> None:
    from aerovane.authoring.context import set_current_context

    class Ti:
        run_id = "r1"
        task_id = "me"

        def xcom_pull(self, **kwargs: Any) -> Any:
            return kwargs

    with set_current_context({"ti": Ti()}):
        got = XCom.get_one(key="k", task_id="other", run_id="r1")
        with pytest.raises(NotImplementedError, match="running task's run"):
            XCom.get_one(key="k", task_id="other", run_id="r2")
    assert got == {
        "task_ids": "other",
        "dag_id": None,
        "key": "k",
        "map_indexes": None,
        "include_prior_dates": False,
    }
    with pytest.raises(AerovaneException, match="no context was found"):
        XCom.get_one(key="k")


def test_chain_linear_links_every_task_of_one_element_to_the_next() -> None:
    with DAG("linear", schedule=None):
        a, b, c, d, e = (EmptyOperator(task_id=n) for n in "abcde")
        chain_linear(a, [b, c], [d, e])
    assert a.downstream_task_ids == {"b", "c"}
    assert d.upstream_task_ids == {"b", "c"} == e.upstream_task_ids
    with pytest.raises(ValueError, match="No dependencies"):
        chain_linear(a)


def test_helpers() -> None:
    validate_key("ok.key-1_2")
    with pytest.raises(AerovaneException, match="alphanumeric"):
        validate_key("bad key")
    with pytest.raises(AerovaneException, match="less than 3"):
        validate_key("long", max_length=3)
    assert as_tuple("ab") == ("ab",) and as_tuple([1, 2]) == (1, 2)
    assert list(chunks([1, 2, 3], 2)) == [[1, 2], [3]]
    assert convert_camel_to_snake("MyOperatorName") == "my_operator_name"
    assert merge_dicts({"a": {"b": 1}, "x": 1}, {"a": {"c": 2}, "x": 2}) == {
        "a": {"b": 1, "c": 2},
        "x": 2,
    }
    assert partition(lambda n: n % 2 == 0, range(5)) == ([1, 3], [0, 2, 4])
    assert exactly_one(0, "x", None) and not exactly_one(1, 2)
    assert at_most_one(0, None) and not at_most_one(1, 1)
