"""BaseOperator arguments, default_args application and argument validation."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from aerovane.authoring import DAG, BaseOperator, BashOperator, EmptyOperator, PythonOperator
from aerovane.authoring.exceptions import AerovaneDagError, AerovaneException
from aerovane.authoring.trigger_rule import TriggerRule
from aerovane.config import reload_settings
from tests.authoring.helpers import FakeTI


class Recorder(BaseOperator):
    """A custom operator with its own required and optional arguments."""

    template_fields = ("message",)

    def __init__(self, *, message: str, level: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message
        self.level = level

    def execute(self, context: Any) -> str:
        return self.message


def test_airflow_defaults() -> None:
    with DAG("defaults", schedule=None):
        op = EmptyOperator(task_id="op")
    assert op.owner == "airflow"
    assert op.retries == 0
    assert op.retry_delay == dt.timedelta(seconds=300)
    assert op.retry_exponential_backoff is False and op.max_retry_delay is None
    assert op.execution_timeout is None
    assert op.trigger_rule == TriggerRule.ALL_SUCCESS and op.trigger_rule == "all_success"
    assert op.pool == "default_pool" and op.pool_slots == 1
    assert op.priority_weight == 1 and op.weight_rule == "downstream"
    assert op.queue == "default"
    assert op.do_xcom_push is True and op.multiple_outputs is False
    assert op.task_display_name == "op"
    assert op.inlets == [] and op.outlets == []


def test_default_retries_come_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROVANE__CORE__DEFAULT_TASK_RETRIES", "4")
    reload_settings()
    with DAG("retries_cfg", schedule=None):
        assert EmptyOperator(task_id="op").retries == 4
        assert EmptyOperator(task_id="explicit", retries=1).retries == 1


def test_dag_default_args_fill_unspecified_arguments() -> None:
    default_args = {
        "owner": "data-team",
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=1),
        "queue": "fast",
        "message": "from defaults",
        "email_on_failure": False,  # accepted and stored, like Airflow
        "unknown_to_everyone": "ignored",
    }
    with DAG("dargs", schedule=None, default_args=default_args):
        plain = EmptyOperator(task_id="plain")
        overridden = EmptyOperator(task_id="overridden", retries=0, owner="me")
        custom = Recorder(task_id="custom")
        bash = BashOperator(task_id="bash", bash_command="true")
    assert (plain.owner, plain.retries, plain.queue) == ("data-team", 3, "fast")
    assert plain.retry_delay == dt.timedelta(minutes=1)
    assert (overridden.owner, overridden.retries) == ("me", 0)
    # A required argument of a subclass can come from default_args.
    assert custom.message == "from defaults" and custom.owner == "data-team"
    assert not hasattr(bash, "message")


def test_operator_default_args_win_over_dag_default_args() -> None:
    with DAG("opargs", schedule=None, default_args={"owner": "dag", "retries": 1}):
        op = EmptyOperator(task_id="op", default_args={"owner": "op-level"})
    assert (op.owner, op.retries) == ("op-level", 1)


def test_default_args_params_are_merged_into_params() -> None:
    with DAG("pargs", schedule=None, params={"a": 1}, default_args={"params": {"b": 2}}) as dag:
        op = EmptyOperator(task_id="op", default_args={"params": {"c": 3}}, params={"d": 4})
    assert dag.params.dump() == {"a": 1, "b": 2}
    assert op.params.dump() == {"c": 3, "d": 4}


def test_default_args_start_date_reaches_tasks() -> None:
    start = dt.datetime(2024, 2, 1)
    with DAG("dstart", schedule=None, default_args={"start_date": start}) as dag:
        op = EmptyOperator(task_id="op")
    assert dag.start_date == op.start_date == start.replace(tzinfo=dt.UTC)


def test_missing_required_argument_names_task_and_argument() -> None:
    with (
        DAG("missing", schedule=None),
        pytest.raises(
            AerovaneException,
            match=r"Recorder \(task_id: 'r'\): missing keyword argument 'message'",
        ),
    ):
        Recorder(task_id="r")
    with pytest.raises(AerovaneException, match="missing keyword argument 'task_id'"):
        EmptyOperator()  # type: ignore[call-arg]


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(AerovaneException, match="Use keyword arguments"):
        EmptyOperator("op")  # type: ignore[misc]


def test_unknown_arguments_are_refused() -> None:
    with (
        DAG("unknown", schedule=None),
        pytest.raises(
            AerovaneException,
            match=r"Invalid arguments were passed to EmptyOperator \(task_id: op\)",
        ),
    ):
        EmptyOperator(task_id="op", not_an_arg=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trigger_rule": "sometimes"}, "trigger_rule must be one of"),
        ({"weight_rule": "sideways"}, "weight_rule must be one of"),
        ({"retries": "many"}, "'retries' type must be int"),
        ({"retries": -1}, "non-negative int"),
        ({"priority_weight": "high"}, "only accepts integers"),
        ({"pool_slots": 0}, "pool_slots must be an integer >= 1"),
        ({"execution_timeout": 30}, "execution_timeout must be a datetime.timedelta"),
        ({"retry_delay": "soon"}, "retry_delay must be a datetime.timedelta"),
    ],
)
def test_argument_validation(kwargs: dict[str, Any], message: str) -> None:
    with DAG("validation", schedule=None), pytest.raises(AerovaneDagError, match=message):
        EmptyOperator(task_id="op", **kwargs)


def test_argument_coercions() -> None:
    with DAG("coerce", schedule=None):
        op = EmptyOperator(
            task_id="op",
            retries="2",  # type: ignore[arg-type]
            retry_delay=30,
            max_retry_delay=600.0,
            trigger_rule=TriggerRule.ONE_SUCCESS,
            start_date=dt.datetime(2024, 1, 1),
            wait_for_downstream=True,
            outlets="single",
        )
    assert op.retries == 2
    assert op.retry_delay == dt.timedelta(seconds=30)
    assert op.max_retry_delay == dt.timedelta(minutes=10)
    assert op.trigger_rule is TriggerRule.ONE_SUCCESS
    assert op.start_date is not None and op.start_date.tzinfo is dt.UTC
    assert op.depends_on_past is True  # implied by wait_for_downstream
    assert op.outlets == ["single"]


def test_task_concurrency_is_a_deprecated_alias() -> None:
    with DAG("tc", schedule=None), pytest.deprecated_call():
        op = EmptyOperator(task_id="op", task_concurrency=2)
    assert op.max_active_tis_per_dag == 2


def test_log_skip_and_names() -> None:
    with DAG("helpers", schedule=None):
        op = PythonOperator(task_id="op", python_callable=lambda: None)
    assert isinstance(op.log, logging.Logger)
    assert op.log.name == "aerovane.task.operators.PythonOperator"
    assert repr(op) == "<Task(PythonOperator): op>"
    assert op.task_type == op.operator_name == "PythonOperator"
    assert op.dag_id == "helpers"
    ti = FakeTI()
    op.skip({"ti": ti}, ["a", "b"])
    op.skip({"ti": ti}, [])
    assert ti.skipped == [["a", "b"]]


def test_priority_weight_total_per_rule() -> None:
    with DAG("pw", schedule=None):
        a = EmptyOperator(task_id="a", priority_weight=2)
        b = EmptyOperator(task_id="b", priority_weight=3, weight_rule="upstream")
        c = EmptyOperator(task_id="c", priority_weight=5, weight_rule="absolute")
        a >> b >> c
    assert a.priority_weight_total == 10
    assert b.priority_weight_total == 5
    assert c.priority_weight_total == 5


def test_base_execute_must_be_implemented() -> None:
    with DAG("abstract", schedule=None):
        op = BaseOperator(task_id="op")
    with pytest.raises(NotImplementedError, match="must implement execute"):
        op.execute({})
    op.on_kill()  # the default has nothing to clean up
