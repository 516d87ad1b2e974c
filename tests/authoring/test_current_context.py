"""get_current_context(): the running task's context, and a clear error outside a task."""

from __future__ import annotations

import pytest

from aerovane.authoring import DAG, PythonOperator, get_current_context
from aerovane.authoring.context import set_current_context
from aerovane.authoring.exceptions import AerovaneException
from tests.authoring.helpers import make_context


def test_outside_a_task_it_is_an_error() -> None:
    with pytest.raises(AerovaneException, match="no context was found"):
        get_current_context()


def test_inside_it_is_the_innermost_context() -> None:
    with DAG("ctx", schedule=None) as dag:
        op = PythonOperator(task_id="op", python_callable=lambda: get_current_context()["ds"])
    context = make_context(dag, op)
    with set_current_context(context):
        assert op.execute(context) == "2024-03-05"
        inner = {"ds": "inner"}
        with set_current_context(inner):
            assert get_current_context() is inner
        assert get_current_context() is context
    with pytest.raises(AerovaneException):
        get_current_context()


def test_airflow_path() -> None:
    from aerovane.compat import airflow_shim

    airflow_shim.install()
    from airflow.operators.python import get_current_context as airflow_get

    assert airflow_get is get_current_context
