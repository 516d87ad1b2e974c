"""Authoring side of dynamic task mapping: `.partial/.expand/.expand_kwargs`, the expand spec in
the serialized DAG, the per-index arguments and the operator of one map index."""

from __future__ import annotations

import datetime as dt

import pytest

from aerovane.authoring import DAG, BashOperator, EmptyOperator, task
from aerovane.authoring.exceptions import AerovaneException
from aerovane.authoring.mapping import (
    MappedArgument,
    UnmappableValue,
    element_kwargs,
    expanded_length,
    unmap,
)
from aerovane.authoring.serialization import SerializedDAG, serialize_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _no_pull(task_id: str, key: str) -> object:
    raise AssertionError(f"nothing to pull, asked for {task_id}/{key}")


def test_expand_over_an_xcom_makes_its_producer_upstream_and_serializes_the_spec() -> None:
    with DAG("m", schedule=None, start_date=START) as dag:

        @task
        def numbers() -> list[int]:
            return [1, 2]

        @task
        def add(x: int, y: int) -> int:
            return x + y

        added = add.partial(y=10).expand(x=numbers())
        done = EmptyOperator(task_id="done")
        added >> done

    mapped = dag.get_task("add")
    assert mapped.is_mapped and not dag.get_task("numbers").is_mapped
    assert mapped.upstream_task_ids == {"numbers"}
    assert mapped.downstream_task_ids == {"done"}
    assert mapped.op_kwargs["y"] == 10
    assert isinstance(mapped.op_kwargs["x"], MappedArgument)
    serialized = SerializedDAG.from_dict(serialize_dag(dag))
    assert serialized.get_task("add").expand_input == {
        "kind": "dict",
        "args": {"x": {"xcom": {"task_id": "numbers", "key": "return_value"}}},
    }
    assert serialized.get_task("add").is_mapped
    assert not serialized.get_task("done").is_mapped


def test_classic_operator_partial_expand_and_expand_kwargs() -> None:
    with DAG("m", schedule=None, start_date=START) as dag:
        BashOperator.partial(task_id="echo", env={"A": "1"}).expand(bash_command=["a", "b"])
        BashOperator.partial(task_id="kw").expand_kwargs([{"bash_command": "x"}])

    spec = dag.get_task("echo").expand_input
    assert expanded_length(spec, _no_pull) == 2
    one = unmap(dag.get_task("echo"), element_kwargs(spec, _no_pull, 1))
    assert (one.bash_command, one.env) == ("b", {"A": "1"})
    # The DAG's operator keeps its placeholder: each map index gets its own copy.
    assert isinstance(dag.get_task("echo").bash_command, MappedArgument)

    kw = dag.get_task("kw")
    assert unmap(kw, element_kwargs(kw.expand_input, _no_pull, 0)).bash_command == "x"


def test_several_mapped_arguments_form_a_cross_product_last_fastest() -> None:
    spec = {
        "kind": "dict",
        "args": {"a": {"literal": ["x", "y"]}, "b": {"xcom": {"task_id": "up", "key": "k"}}},
    }

    def pull(task_id: str, key: str) -> object:
        assert (task_id, key) == ("up", "k")
        return [1, 2, 3]

    assert expanded_length(spec, pull) == 6
    got = [element_kwargs(spec, pull, i) for i in range(6)]
    assert [(g["a"], g["b"]) for g in got] == [
        ("x", 1),
        ("x", 2),
        ("x", 3),
        ("y", 1),
        ("y", 2),
        ("y", 3),
    ]


def test_mapping_over_a_dict_gives_key_value_pairs() -> None:
    spec = {"kind": "dict", "args": {"pair": {"literal": {"a": 1, "b": 2}}}}
    assert [element_kwargs(spec, _no_pull, i)["pair"] for i in range(2)] == [("a", 1), ("b", 2)]


def test_unmappable_values_are_clear_errors() -> None:
    spec = {"kind": "dict", "args": {"x": {"xcom": {"task_id": "up", "key": "return_value"}}}}
    with pytest.raises(UnmappableValue, match="can only map over a list or a dict, got int"):
        expanded_length(spec, lambda *_: 3)
    kwargs_spec = {"kind": "list", "value": {"literal": [{"a": 1}, 5]}}
    with pytest.raises(UnmappableValue, match="element 1 is int"):
        element_kwargs(kwargs_spec, _no_pull, 1)


def test_bad_expand_calls_fail_when_the_dag_is_built() -> None:
    @task
    def each(x: int, y: int = 0) -> int:
        return x + y

    with DAG("m", schedule=None, start_date=START):
        with pytest.raises(TypeError, match="both partial\\(\\) and expand\\(\\): y"):
            each.partial(y=1).expand(y=[1])
        with pytest.raises(TypeError, match="at least one argument"):
            each.expand()
        with pytest.raises(UnmappableValue, match="got 5"):
            each.expand(x=5)
        with pytest.raises(TypeError, match="needs a task_id"):
            BashOperator.partial(bash_command="x")


def test_expand_kwargs_names_a_taskflow_argument_or_an_operator_attribute() -> None:
    with DAG("m", schedule=None, start_date=START) as dag:

        @task
        def join(a: int, b: str = "-") -> str:
            return f"{b}{a}"

        join.expand_kwargs([{"a": 1, "b": "x"}, {"a": 2}])
        BashOperator.partial(task_id="kw").expand_kwargs([{"bash_command": "x", "nope": 1}])

    join_op = dag.get_task("join")
    first = unmap(join_op, element_kwargs(join_op.expand_input, _no_pull, 0))
    assert first.op_kwargs == {"a": 1, "b": "x"}
    second = unmap(join_op, element_kwargs(join_op.expand_input, _no_pull, 1))
    assert second.op_kwargs == {"a": 2}
    kw = dag.get_task("kw")
    with pytest.raises(AerovaneException, match="has no argument 'nope' to map"):
        unmap(kw, element_kwargs(kw.expand_input, _no_pull, 0))


def test_map_and_zip_keep_functions_out_of_the_serialized_spec() -> None:
    with DAG("m", schedule=None, start_date=START) as dag:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def letters() -> list[str]:
            return ["a", "b"]

        @task
        def show(v: object) -> object:
            return v

        nums, chars = numbers(), letters()
        show.override(task_id="m")(v=1)  # an unmapped task among mapped ones
        show.override(task_id="doubled").expand(v=nums.map(lambda n: n * 2).map(str))
        show.override(task_id="zipped").expand(v=nums.zip(chars, fillvalue=None))

    serialized = SerializedDAG.from_dict(serialize_dag(dag))
    assert serialized.get_task("zipped").upstream_task_ids == {"numbers", "letters"}
    doubled = serialized.get_task("doubled").expand_input
    assert doubled["args"]["v"] == {
        "map": {"xcom": {"task_id": "numbers", "key": "return_value"}},
        "fn": 0,
    }
    values = {"numbers": [1, 2, 3], "letters": ["a", "b"]}

    def pull(task_id: str, key: str) -> object:
        return values[task_id]

    # The scheduler needs only lengths; the task process has the functions.
    assert expanded_length(doubled, pull) == 3
    op = dag.get_task("doubled")
    assert element_kwargs(op.expand_input, pull, 2, op.expand_callables) == {"v": "6"}
    with pytest.raises(AerovaneException, match="only run in the task process"):
        element_kwargs(doubled, pull, 0)
    zipped = dag.get_task("zipped").expand_input
    assert expanded_length(zipped, pull) == 3
    assert element_kwargs(zipped, pull, 2) == {"v": (3, None)}


def test_mapped_task_group_maps_every_task_in_it() -> None:
    from aerovane.authoring import task_group

    @task
    def add(x: int, y: int) -> int:
        return x + y

    @task
    def double(v: int) -> int:
        return v * 2

    @task_group
    def per_item(x: int, y: int) -> object:
        return double(add(x, y))

    @task_group
    def nested(x: int) -> object:
        return add.expand(x=[1], y=[x])

    with DAG("m", schedule=None, start_date=START) as dag:
        per_item.partial(y=1).expand(x=[1, 2])
        with pytest.raises(TypeError, match="mapped inside the mapped task group"):
            nested.expand(x=[1])

    first, second = dag.get_task("per_item.add"), dag.get_task("per_item.double")
    assert first.is_mapped and second.is_mapped
    assert first.expand_input is second.expand_input
    assert expanded_length(second.expand_input, _no_pull) == 2
    # `double` takes no group argument: the group's values only reach tasks that take them.
    values = element_kwargs(second.expand_input, _no_pull, 1)
    assert unmap(second, values).op_kwargs == second.op_kwargs
    assert list(unmap(first, values).op_args) == [2, 1]
