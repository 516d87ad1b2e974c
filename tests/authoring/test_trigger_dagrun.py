"""TriggerDagRunOperator's arguments (the runs themselves: tests/engine/test_operators.py)."""

from __future__ import annotations

import pytest

from aerovane.authoring import DAG, TriggerDagRunOperator
from aerovane.authoring.exceptions import AerovaneException
from tests.authoring.helpers import run_task


def test_states_are_validated_and_default() -> None:
    with DAG("trig", schedule=None):
        op = TriggerDagRunOperator(task_id="t", trigger_dag_id="x")
        assert (op.allowed_states, op.failed_states) == (["success"], ["failed"])
        with pytest.raises(ValueError, match=r"allowed_states: \['done'\]"):
            TriggerDagRunOperator(task_id="u", trigger_dag_id="x", allowed_states=["done"])


def test_without_the_runtime_client_the_error_says_so() -> None:
    with DAG("trig2", schedule=None):
        op = TriggerDagRunOperator(task_id="t", trigger_dag_id="x")
    with pytest.raises(AerovaneException, match="runtime's metadata client"):
        run_task(op)
