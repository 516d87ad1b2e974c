"""`>>`, `<<`, chain, cross_downstream and relatives."""

from __future__ import annotations

import pytest

from aerovane.authoring import DAG, EmptyOperator, chain, cross_downstream
from aerovane.authoring.exceptions import AerovaneDagError


def _ops(*ids: str) -> list[EmptyOperator]:
    return [EmptyOperator(task_id=i) for i in ids]


def test_shift_operators_with_single_tasks_and_lists() -> None:
    with DAG("shift", schedule=None):
        a, b, c, d, e = _ops("a", "b", "c", "d", "e")
        result = a >> b
        assert result is b
        c << b
        [c, d] << a
        d >> [e]
        [a, b] >> e
    assert a.downstream_task_ids == {"b", "c", "d", "e"}
    assert b.upstream_task_ids == {"a"} and b.downstream_task_ids == {"c", "e"}
    assert c.upstream_task_ids == {"a", "b"}
    assert e.upstream_task_ids == {"a", "b", "d"}


def test_list_on_the_left_of_shift_returns_the_right_operand() -> None:
    with DAG("rlist", schedule=None):
        a, b, c = _ops("a", "b", "c")
        assert ([a, b] >> c) is c
        d = EmptyOperator(task_id="d")
        assert ([a, b] << d) is d
    assert c.upstream_task_ids == {"a", "b"} and d.downstream_task_ids == {"a", "b"}


def test_set_upstream_and_set_downstream() -> None:
    with DAG("setters", schedule=None):
        a, b, c = _ops("a", "b", "c")
        a.set_downstream([b, c])
        c.set_upstream(b)
    assert a.get_direct_relative_ids() == {"b", "c"}
    assert c.get_direct_relative_ids(upstream=True) == {"a", "b"}
    assert {t.task_id for t in c.upstream_list} == {"a", "b"}
    assert {t.task_id for t in a.downstream_list} == {"b", "c"}


def test_chain_pairs_equal_length_lists() -> None:
    with DAG("chain", schedule=None):
        a, b, c, d, e, f = _ops("a", "b", "c", "d", "e", "f")
        chain(a, [b, c], [d, e], f)
    assert a.downstream_task_ids == {"b", "c"}
    assert b.downstream_task_ids == {"d"} and c.downstream_task_ids == {"e"}
    assert f.upstream_task_ids == {"d", "e"}


def test_chain_rejects_lists_of_different_lengths() -> None:
    with DAG("chain_bad", schedule=None):
        a, b, c = _ops("a", "b", "c")
        with pytest.raises(AerovaneDagError, match=r"different length Iterable\. Got 2 and 1"):
            chain([a, b], [c])


def test_cross_downstream() -> None:
    with DAG("cross", schedule=None):
        a, b, c, d = _ops("a", "b", "c", "d")
        cross_downstream([a, b], [c, d])
    assert a.downstream_task_ids == b.downstream_task_ids == {"c", "d"}
    assert c.upstream_task_ids == d.upstream_task_ids == {"a", "b"}


def test_flat_relatives() -> None:
    with DAG("flat", schedule=None):
        a, b, c, d = _ops("a", "b", "c", "d")
        a >> b >> c
        a >> d
    assert a.get_flat_relative_ids() == {"b", "c", "d"}
    assert c.get_flat_relative_ids(upstream=True) == {"a", "b"}
    assert {t.task_id for t in b.get_flat_relatives()} == {"c"}


def test_relationship_assigns_the_dag_to_a_dagless_task() -> None:
    dag = DAG("adopt", schedule=None)
    a = EmptyOperator(task_id="a", dag=dag)
    loose = EmptyOperator(task_id="loose")
    a >> loose
    assert loose.dag is dag and dag.has_task("loose")


def test_relationships_need_a_dag_and_a_single_one() -> None:
    x, y = EmptyOperator(task_id="x"), EmptyOperator(task_id="y")
    with pytest.raises(AerovaneDagError, match="don't have DAGs yet"):
        x >> y
    one = EmptyOperator(task_id="one", dag=DAG("one", schedule=None))
    two = EmptyOperator(task_id="two", dag=DAG("two", schedule=None))
    with pytest.raises(AerovaneDagError, match="more than one DAG"):
        one >> two


def test_relationships_only_between_tasks() -> None:
    with DAG("types", schedule=None):
        a = EmptyOperator(task_id="a")
        with pytest.raises(TypeError, match="received str"):
            a >> "b"  # type: ignore[operator]
        with pytest.raises(TypeError, match="received int"):
            a.set_downstream([1])  # type: ignore[list-item]


def test_task_dag_cannot_be_changed() -> None:
    a = EmptyOperator(task_id="a", dag=DAG("first", schedule=None))
    with pytest.raises(AerovaneDagError, match="can not be changed"):
        a.dag = DAG("second", schedule=None)
