"""TaskFlow: @task variants, XComArg wiring, multiple_outputs and @dag params."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aerovane.authoring import DAG, EmptyOperator, Param, XComArg, dag, task
from aerovane.authoring.exceptions import AerovaneException
from aerovane.authoring.xcom_arg import xcom_outputs
from tests.authoring.helpers import FakeDagRun, FakeTI, run_task


def test_task_call_creates_operator_and_wires_xcom_args() -> None:
    with DAG("tf", schedule=None) as d:

        @task
        def extract() -> list[int]:
            return [1, 2, 3]

        @task()
        def transform(values: list[int], factor: int = 2) -> list[int]:
            return [v * factor for v in values]

        @task.python(task_id="load_it", retries=2)
        def load(values: list[int], extra: Any = None) -> int:
            return sum(values)

        raw = extract()
        doubled = transform(raw, factor=3)
        total = load(doubled, extra={"nested": [raw]})
    assert isinstance(raw, XComArg) and raw.key == "return_value"
    assert d.task_ids == ["extract", "transform", "load_it"]
    assert d.get_task("transform").upstream_task_ids == {"extract"}
    assert d.get_task("load_it").upstream_task_ids == {"extract", "transform"}
    assert d.get_task("load_it").retries == 2
    op = d.get_task("transform")
    assert op.operator_name == "@task" and op.task_type == "_PythonDecoratedOperator"
    ti = FakeTI(xcoms={("extract", "return_value"): [1, 2, 3], ("transform", "return_value"): [3]})
    assert run_task(op, ti) == [3, 6, 9]
    assert run_task(total.operator, ti) == 3


def test_xcom_arg_shift_operators_and_iteration() -> None:
    with DAG("tf_shift", schedule=None) as d:

        @task
        def a() -> int:
            return 1

        first = a()
        end = EmptyOperator(task_id="end")
        first >> end
        start = EmptyOperator(task_id="start")
        start >> first
    assert d.get_task("end").upstream_task_ids == {"a"}
    assert d.get_task("a").upstream_task_ids == {"start"}
    with pytest.raises(TypeError, match="not iterable"):
        list(first)
    assert str(first) == "{{ task_instance.xcom_pull(task_ids='a', key='return_value') }}"


def test_repeated_calls_get_numbered_ids_and_override() -> None:
    with DAG("tf_ids", schedule=None) as d:

        @task
        def step(i: int) -> int:
            return i

        for i in range(3):
            step(i)
        step.override(task_id="custom", owner="me")(9)
    assert d.task_ids == ["step", "step__1", "step__2", "custom"]
    assert d.get_task("custom").owner == "me"


def test_multiple_outputs_explicit_and_inferred() -> None:
    with DAG("tf_multi", schedule=None) as d:

        @task(multiple_outputs=True)
        def explicit() -> Any:
            return {"a": 1, "b": 2}

        @task
        def inferred() -> dict[str, int]:
            return {"c": 3}

        @task
        def plain() -> list[int]:
            return [1]

        @task
        def consumer(a: int, c: int) -> int:
            return a + c

        e, i = explicit(), inferred()
        plain()
        total = consumer(e["a"], i["c"])
    assert d.get_task("explicit").multiple_outputs is True
    assert d.get_task("inferred").multiple_outputs is True
    assert d.get_task("plain").multiple_outputs is False
    assert d.get_task("consumer").upstream_task_ids == {"explicit", "inferred"}
    result = run_task(d.get_task("explicit"))
    assert xcom_outputs(d.get_task("explicit"), result) == [
        ("a", 1),
        ("b", 2),
        ("return_value", {"a": 1, "b": 2}),
    ]
    assert xcom_outputs(d.get_task("plain"), [1]) == [("return_value", [1])]
    assert xcom_outputs(d.get_task("plain"), None) == []
    with pytest.raises(AerovaneException, match="expected dictionary for multiple_outputs"):
        xcom_outputs(d.get_task("explicit"), [1])
    with pytest.raises(AerovaneException, match="keys must be strings"):
        xcom_outputs(d.get_task("explicit"), {1: "x"})
    ti = FakeTI(xcoms={("explicit", "a"): 1, ("inferred", "c"): 3})
    assert run_task(total.operator, ti) == 4


def test_task_functions_receive_context_by_name() -> None:
    with DAG("tf_ctx", schedule=None) as d:

        @task
        def uses_context(x: int, ds: str | None = None, ti: Any = None) -> str:
            return f"{x}:{ds}:{ti.try_number}"

        uses_context(5)
    assert run_task(d.get_task("uses_context"), FakeTI(try_number=2)) == "5:2024-03-05:2"


def test_call_time_argument_errors() -> None:
    with DAG("tf_errors", schedule=None):

        @task
        def needs_two(a: int, b: int) -> int:
            return a + b

        with pytest.raises(TypeError, match="needs_two\\(\\): missing a required argument: 'b'"):
            needs_two(1)
    with pytest.raises(ValueError, match="Context key parameter ds can't have a default"):

        @task
        def bad_default(ds: str = "x") -> str:
            return ds


def test_branch_short_circuit_and_bash_decorators() -> None:
    with DAG("tf_kinds", schedule=None) as d:

        @task.branch
        def choose() -> str:
            return "left"

        @task.short_circuit()
        def gate() -> bool:
            return False

        @task.bash
        def say(word: str, ds: str | None = None) -> str:
            return f"echo {word} {ds} {{{{ task.task_id }}}}"

        choose() >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
        gate() >> EmptyOperator(task_id="after_gate")
        say("hello")
    ti = FakeTI()
    assert run_task(d.get_task("choose"), ti) == "left"
    assert ti.skipped == [["right"]]
    ti = FakeTI()
    assert run_task(d.get_task("gate"), ti) is False
    assert ti.skipped == [["after_gate"]]
    bash_task = d.get_task("say")
    assert bash_task.operator_name == "@task.bash"
    assert run_task(bash_task) == "hello 2024-03-05 say"
    assert d.get_task("choose").operator_name == "@task.branch"


def test_bash_decorator_requires_a_command() -> None:
    with DAG("tf_bash_empty", schedule=None) as d:

        @task.bash
        def nothing() -> str:
            return "  "

        nothing()
    with pytest.raises(TypeError, match="must be a non-empty string"):
        run_task(d.get_task("nothing"))


def test_unsupported_task_flavour_has_a_clear_error() -> None:
    with pytest.raises(AttributeError, match=r"task\.docker is not supported"):
        task.docker


def test_dag_decorator_builds_dag_with_params_and_docs() -> None:
    @dag(schedule=None, start_date=dt.datetime(2024, 1, 1), tags=["tf"])
    def pipeline(size: int = 3, label: Any = Param("x", type="string")) -> None:
        """Pipeline docs."""

        @task
        def make(n: int, name: str) -> str:
            return name * n

        make(size, label)

    built = pipeline()
    assert isinstance(built, DAG)
    assert built.dag_id == "pipeline" and built.doc_md == "Pipeline docs." and built.tags == ["tf"]
    assert built.fileloc == __file__
    assert built.params.dump() == {"size": 3, "label": "x"}
    assert built.params.get_param("label").schema == {"type": "string"}
    make = built.get_task("make")
    assert run_task(make) == "xxx"
    # Rendering happens in place (once per task process), so use a fresh DAG for a second run.
    run = FakeDagRun(conf={"size": 2, "label": "ab"})
    assert run_task(pipeline().get_task("make"), dag_run=run) == "abab"
    overridden = pipeline(size=1)
    assert overridden.params["size"] == 1


def test_dag_decorator_without_parentheses_and_custom_id() -> None:
    @dag
    def bare() -> None:
        EmptyOperator(task_id="t")

    @dag("custom_id", schedule="@daily")
    def named() -> None:
        EmptyOperator(task_id="t")

    assert bare().dag_id == "bare"
    built = named()
    assert built.dag_id == "custom_id" and built.timetable.summary == "0 0 * * *"
