"""Task groups: ids, nesting, default_args, edges to and from groups, `@task_group`, and the
serialized tree."""

from __future__ import annotations

import datetime as dt

import pytest

from aerovane.authoring import DAG, BashOperator, EmptyOperator, TaskGroup, task, task_group
from aerovane.authoring.exceptions import AerovaneDagError
from aerovane.authoring.serialization import SerializedDAG, serialize_dag

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def ids(tasks: object) -> set[str]:
    return {t.task_id for t in tasks}  # type: ignore[attr-defined]


def test_group_prefixes_ids_and_nests() -> None:
    with DAG("tg", schedule=None, start_date=START) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("section_1", tooltip="first") as section_1:
            a = EmptyOperator(task_id="a")
            with TaskGroup("inner") as inner:
                b = EmptyOperator(task_id="b")
            a >> inner
        with TaskGroup("flat", prefix_group_id=False) as flat:
            c = EmptyOperator(task_id="c")
            with TaskGroup("deeper") as deeper:
                d = EmptyOperator(task_id="d")
        end = EmptyOperator(task_id="end")
        start >> section_1 >> flat >> end
    assert set(dag.task_ids) == {
        "start",
        "section_1.a",
        "section_1.inner.b",
        "c",
        "deeper.d",
        "end",
    }
    assert inner.group_id == "section_1.inner" and inner.label == "inner"
    assert b.label == "b" and b.task_group is inner
    assert deeper.group_id == "deeper"
    assert a.downstream_task_ids == {"section_1.inner.b"}
    # start >> group: edges to the group's roots; group >> next: from its leaves.
    assert start.downstream_task_ids == {"section_1.a"}
    assert b.downstream_task_ids == {"c", "deeper.d"}
    assert end.upstream_task_ids == {"c", "deeper.d"}
    assert ids(section_1.roots) == {"section_1.a"} and ids(section_1.leaves) == {
        "section_1.inner.b"
    }
    assert section_1.upstream_task_ids == {"start"}
    assert flat.upstream_group_ids == {"section_1"} and section_1.downstream_group_ids == {"flat"}
    assert set(dag.task_group_dict) == {None, "section_1", "section_1.inner", "flat", "deeper"}
    assert dag.task_group.children["section_1"] is section_1
    assert c.task_group is flat and d.task_group is deeper


def test_group_default_args_override_the_dags_and_operators_win() -> None:
    with DAG("tg_defaults", schedule=None, start_date=START, default_args={"retries": 1}) as dag:
        with TaskGroup("g", default_args={"retries": 2, "owner": "group"}):
            with TaskGroup("h", default_args={"retries": 3}):
                deep = EmptyOperator(task_id="deep")
            mid = EmptyOperator(task_id="mid")
            own = EmptyOperator(task_id="own", retries=5)
        out = EmptyOperator(task_id="out")
    assert (deep.retries, deep.owner) == (3, "group")
    assert (mid.retries, own.retries, out.retries) == (2, 5, 1)
    assert dag.task_dict["g.h.deep"] is deep


def test_lists_of_groups_and_reverse_shift() -> None:
    with DAG("tg_lists", schedule=None, start_date=START):
        first = EmptyOperator(task_id="first")
        with TaskGroup("x") as x:
            x1 = EmptyOperator(task_id="x1")
        with TaskGroup("y") as y:
            y1 = EmptyOperator(task_id="y1")
            y2 = EmptyOperator(task_id="y2")
            y1 >> y2
        last = EmptyOperator(task_id="last")
        first >> [x, y]
        last << y
        [x, y] >> EmptyOperator(task_id="join")
    assert first.downstream_task_ids == {"x.x1", "y.y1"}
    assert last.upstream_task_ids == {"y.y2"}
    assert x1.downstream_task_ids == {"join"} and y2.downstream_task_ids == {"last", "join"}


def test_duplicate_group_and_invalid_ids_are_errors() -> None:
    with DAG("tg_dup", schedule=None, start_date=START):
        with TaskGroup("g"):
            pass
        with pytest.raises(AerovaneDagError, match="group_id 'g' has already been added"):
            TaskGroup("g")
        with pytest.raises(AerovaneDagError, match="alphanumeric"):
            TaskGroup("has.dot")
        with TaskGroup("g2"):
            EmptyOperator(task_id="t")
            with pytest.raises(AerovaneDagError, match=r"'g2\.t' has already been added"):
                EmptyOperator(task_id="t")
    with pytest.raises(AerovaneDagError, match="inside a dag"):
        TaskGroup("orphan")


def test_task_group_decorator_ids_and_return_values() -> None:
    with DAG("tg_deco", schedule=None, start_date=START) as dag:

        @task
        def extract() -> int:
            return 1

        @task
        def load(value: int) -> None:
            print(value)

        @task_group
        def etl(value: int):
            """Extract and load."""
            load(extract())

        @task_group(group_id="chained", tooltip="explicit")
        def chained():
            return load(extract())

        first = etl(1)
        second = etl(2)
        out = chained()
        start = EmptyOperator(task_id="start")
        start >> first >> second >> out

    assert isinstance(first, TaskGroup) and first.group_id == "etl"
    assert second.group_id == "etl__1"
    assert first.tooltip == "Extract and load."
    # A group function that returns a task hands back that task: edges bind to it.
    assert out.operator.task_id == "chained.load"
    assert {
        "start",
        "etl.extract",
        "etl.load",
        "etl__1.extract",
        "etl__1.load",
        "chained.extract",
        "chained.load",
    } == set(dag.task_ids)
    assert dag.task_dict["start"].downstream_task_ids == {"etl.extract"}
    assert dag.task_dict["etl.load"].downstream_task_ids == {"etl__1.extract"}
    assert dag.task_dict["etl__1.load"].downstream_task_ids == {"chained.load"}


def test_taskflow_reuse_inside_a_group_gets_suffixes() -> None:
    with DAG("tg_reuse", schedule=None, start_date=START) as dag:

        @task
        def step() -> None:
            pass

        with TaskGroup("g"):
            step()
            step()
        step()
    assert set(dag.task_ids) == {"g.step", "g.step__1", "step"}


def test_serialization_carries_the_tree_unchanged() -> None:
    with DAG("tg_ser", schedule=None, start_date=START) as dag:
        with TaskGroup("outer", tooltip="tip") as outer:
            BashOperator(task_id="t", bash_command="true")
            with TaskGroup("inner"):
                EmptyOperator(task_id="u")
        EmptyOperator(task_id="after") << outer
    data = serialize_dag(dag)
    tree = data["task_group"]
    assert tree["_group_id"] is None
    assert tree["children"]["outer"][0] == "taskgroup"
    outer_data = tree["children"]["outer"][1]
    assert outer_data["tooltip"] == "tip"
    assert outer_data["children"]["outer.t"] == ["operator", "outer.t"]
    assert outer_data["downstream_task_ids"] == ["after"]
    copy = SerializedDAG.from_dict(data)
    groups = copy.task_group.get_task_group_dict()
    assert set(groups) == {None, "outer", "outer.inner"}
    assert groups["outer"].task_ids() == ["outer.t", "outer.inner.u"]
    assert groups["outer.inner"].tooltip == ""
    assert copy.get_task("after").upstream_task_ids == {"outer.inner.u", "outer.t"}
