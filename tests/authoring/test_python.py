"""PythonOperator, BranchPythonOperator and ShortCircuitOperator."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aerovane.authoring import (
    DAG,
    BranchPythonOperator,
    EmptyOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from aerovane.authoring.exceptions import AerovaneException
from tests.authoring.helpers import FakeTI, run_task


def test_op_args_op_kwargs_and_templates() -> None:
    seen: dict[str, Any] = {}

    def callable_(a: int, b: str, *, c: str, templates_dict: dict[str, str]) -> str:
        seen.update(a=a, b=b, c=c, templates_dict=templates_dict)
        return f"{a}-{b}-{c}"

    with DAG("py_args", schedule=None):
        op = PythonOperator(
            task_id="op",
            python_callable=callable_,
            op_args=[1, "{{ ds }}"],
            op_kwargs={"c": "{{ task.task_id }}"},
            templates_dict={"when": "{{ ds_nodash }}"},
        )
    assert run_task(op) == "1-2024-03-05-op"
    assert seen["templates_dict"] == {"when": "20240305"}


def test_context_entries_are_passed_by_signature() -> None:
    def wants_some(ds: str, ti: FakeTI, params: dict[str, Any]) -> tuple[str, int, Any]:
        return ds, ti.try_number, params["x"]

    def wants_all(**kwargs: Any) -> list[str]:
        return sorted(kwargs)

    def wants_none() -> str:
        return "nothing"

    with DAG("py_sig", schedule=None, params={"x": "px"}):
        some = PythonOperator(task_id="some", python_callable=wants_some)
        every = PythonOperator(task_id="every", python_callable=wants_all, op_kwargs={"extra": 1})
        none = PythonOperator(task_id="none", python_callable=wants_none)
    assert run_task(some, FakeTI(try_number=4)) == ("2024-03-05", 4, "px")
    keys = run_task(every)
    assert {"ds", "ti", "dag_run", "params", "extra", "templates_dict"} <= set(keys)
    assert run_task(none) == "nothing"


def test_positional_args_may_not_shadow_context_keys() -> None:
    def uses_ds(ds: str) -> str:
        return ds

    with DAG("py_conflict", schedule=None):
        op = PythonOperator(task_id="op", python_callable=uses_ds, op_args=["x"])
    with pytest.raises(ValueError, match="The key 'ds' in args is a part of kwargs"):
        run_task(op)


def test_return_value_logging(caplog: pytest.LogCaptureFixture) -> None:
    with DAG("py_log", schedule=None):
        shown = PythonOperator(task_id="shown", python_callable=lambda: "secret-ish")
        hidden = PythonOperator(
            task_id="hidden", python_callable=lambda: "secret", show_return_value_in_logs=False
        )
    with caplog.at_level(logging.INFO):
        run_task(shown)
        run_task(hidden)
    messages = [r.getMessage() for r in caplog.records]
    assert "Done. Returned value was: secret-ish" in messages
    assert "Done. Returned value not shown" in messages


def test_python_callable_must_be_callable() -> None:
    with DAG("py_bad", schedule=None), pytest.raises(AerovaneException, match="must be callable"):
        PythonOperator(task_id="op", python_callable="nope")  # type: ignore[arg-type]


def _branch_dag(choice: Any) -> tuple[BranchPythonOperator, FakeTI]:
    with DAG("branching", schedule=None):
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: choice)
        left, right, other = (EmptyOperator(task_id=i) for i in ("left", "right", "other"))
        after_left = EmptyOperator(task_id="after_left")
        join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
        branch >> [left, right, other]
        left >> after_left >> join
        right >> join
        branch >> join  # the empty branch straight to the join
    return branch, FakeTI()


def test_branch_skips_the_direct_downstream_tasks_not_chosen() -> None:
    branch, ti = _branch_dag("left")
    assert run_task(branch, ti) == "left"
    # join is downstream of the chosen branch, so it is not skipped.
    assert ti.skipped == [["right", "other"]]


def test_branch_accepts_lists_and_none() -> None:
    branch, ti = _branch_dag(["left", "right"])
    run_task(branch, ti)
    assert ti.skipped_ids == {"other"}
    branch, ti = _branch_dag(None)
    run_task(branch, ti)
    assert ti.skipped_ids == {"left", "right", "other", "join"}


def test_branch_rejects_unknown_task_ids() -> None:
    branch, ti = _branch_dag("nowhere")
    with pytest.raises(AerovaneException, match=r"Invalid tasks found: \['nowhere'\]"):
        run_task(branch, ti)
    branch, ti = _branch_dag([1])
    with pytest.raises(AerovaneException, match="expected all task IDs are strings"):
        run_task(branch, ti)


def _short_circuit_dag(result: Any, ignore: bool = True) -> tuple[ShortCircuitOperator, FakeTI]:
    with DAG("short", schedule=None):
        gate = ShortCircuitOperator(
            task_id="gate", python_callable=lambda: result, ignore_downstream_trigger_rules=ignore
        )
        a, b, c = (EmptyOperator(task_id=i) for i in "abc")
        gate >> a >> b
        gate >> c
    return gate, FakeTI()


def test_short_circuit_falsy_skips_everything_downstream() -> None:
    gate, ti = _short_circuit_dag(0)
    assert run_task(gate, ti) == 0
    assert ti.skipped == [["a", "b", "c"]]


def test_short_circuit_can_skip_only_direct_downstream() -> None:
    gate, ti = _short_circuit_dag([], ignore=False)
    run_task(gate, ti)
    assert ti.skipped == [["a", "c"]]


def test_short_circuit_truthy_proceeds() -> None:
    gate, ti = _short_circuit_dag("yes")
    assert run_task(gate, ti) == "yes"
    assert ti.skipped == []
