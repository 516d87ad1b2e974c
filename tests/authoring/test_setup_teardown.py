"""Setup and teardown tasks: `as_setup`/`as_teardown`, `@setup`/`@teardown`, their trigger
rule, groups' leaves without teardowns, and what serialization and the scheduler see."""

from __future__ import annotations

import datetime as dt

import pytest

from aerovane.authoring import (
    DAG,
    BashOperator,
    EmptyOperator,
    TaskGroup,
    TriggerRule,
    setup,
    task,
    teardown,
)
from aerovane.authoring.serialization import SerializedDAG, serialize_dag
from aerovane.scheduler.runs import _shape

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_as_setup_and_as_teardown() -> None:
    with DAG("st", schedule=None, start_date=START) as dag:
        create = BashOperator(task_id="create", bash_command="true").as_setup()
        work = EmptyOperator(task_id="work")
        delete = BashOperator(task_id="delete", bash_command="true").as_teardown(
            setups=create, on_failure_fail_dagrun=True
        )
        create >> work >> delete
    assert create.is_setup and not create.is_teardown
    assert delete.is_teardown and delete.on_failure_fail_dagrun
    assert delete.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert delete.upstream_task_ids == {"create", "work"}
    data = serialize_dag(dag)
    by_id = {t["task_id"]: t for t in data["tasks"]}
    assert by_id["create"]["is_setup"] and "is_setup" not in by_id["work"]
    assert by_id["delete"]["trigger_rule"] == "all_done_setup_success"
    copy = SerializedDAG.from_dict(data)
    assert copy.get_task("delete").is_teardown and copy.get_task("delete").on_failure_fail_dagrun
    assert copy.get_task("create").is_setup


def test_flags_are_exclusive_and_fail_dagrun_needs_a_teardown() -> None:
    with DAG("st_bad", schedule=None, start_date=START):
        t = EmptyOperator(task_id="t").as_setup()
        with pytest.raises(ValueError, match="task is a setup"):
            t.as_teardown()
        u = EmptyOperator(task_id="u")
        with pytest.raises(ValueError, match="not a teardown"):
            u.on_failure_fail_dagrun = True


def test_decorators_mark_taskflow_tasks() -> None:
    with DAG("st_deco", schedule=None, start_date=START) as dag:

        @setup
        def create_cluster() -> str:
            return "c1"

        @task
        def use(cluster: str) -> None:
            print(cluster)

        @teardown(on_failure_fail_dagrun=True)
        def delete_cluster(cluster: str) -> None:
            print(cluster)

        @setup
        @task.bash
        def bash_setup() -> str:
            return "echo hi"

        @teardown
        def plain_teardown() -> None:
            pass

        cluster = create_cluster()
        use(cluster) >> delete_cluster(cluster)
        bash_setup() >> plain_teardown()
    assert dag.get_task("create_cluster").is_setup
    assert dag.get_task("bash_setup").is_setup
    down = dag.get_task("delete_cluster")
    assert down.is_teardown and down.on_failure_fail_dagrun
    assert down.trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    plain = dag.get_task("plain_teardown")
    assert plain.is_teardown and not plain.on_failure_fail_dagrun


def test_xcomarg_as_teardown_with_setups() -> None:
    with DAG("st_xcom", schedule=None, start_date=START) as dag:

        @task
        def make() -> int:
            return 1

        @task
        def clean() -> None:
            pass

        made = make()
        clean().as_teardown(setups=made)
    assert dag.get_task("make").is_setup
    assert dag.get_task("clean").upstream_task_ids == {"make"}


def test_group_leaves_skip_teardowns() -> None:
    with DAG("st_group", schedule=None, start_date=START):
        with TaskGroup("g") as g:
            s = EmptyOperator(task_id="s").as_setup()
            w = EmptyOperator(task_id="w")
            t = EmptyOperator(task_id="t").as_teardown(setups=s)
            s >> w >> t
        after = EmptyOperator(task_id="after")
        g >> after
    assert [x.task_id for x in g.leaves] == ["g.w"]
    assert after.upstream_task_ids == {"g.w"}
    assert t.downstream_task_ids == set()


def test_scheduler_shape_run_state_leaves_and_indirect_setups() -> None:
    with DAG("st_shape", schedule=None, start_date=START) as dag:
        s = EmptyOperator(task_id="s").as_setup()
        w1 = EmptyOperator(task_id="w1")
        w2 = EmptyOperator(task_id="w2", trigger_rule="all_done")
        t = EmptyOperator(task_id="t").as_teardown(setups=s)
        s >> w1 >> w2 >> t
        loud = EmptyOperator(task_id="loud").as_teardown(on_failure_fail_dagrun=True)
        w2 >> loud
    shape = _shape(SerializedDAG.from_dict(serialize_dag(dag)))
    # Teardowns don't decide the run's state unless on_failure_fail_dagrun.
    assert sorted(shape.state_leaves) == ["loud"]
    # w2 runs on all_done, but its setup (indirectly upstream) must still have succeeded.
    assert shape.indirect_setups == {"w2": ["s"]}
    assert shape.direct_setups == {"w1": ["s"], "t": ["s"]}


def test_context_manager_puts_the_block_between_setup_and_teardown() -> None:
    with DAG("st_ctx", schedule=None, start_date=START) as dag:

        @setup
        def provision() -> str:
            return "id"

        @teardown
        def release(resource: str) -> None:
            pass

        @task
        def job() -> None:
            pass

        @task
        def other() -> None:
            pass

        @setup
        def inner_setup() -> None:
            pass

        @teardown
        def inner_teardown() -> None:
            pass

        with release(provision()):
            job() >> other()
            with inner_setup() >> inner_teardown():
                EmptyOperator(task_id="inner_work")
    get = dag.get_task
    assert get("release").upstream_task_ids == {"provision", "other", "inner_teardown"}
    assert get("provision").downstream_task_ids == {"release", "job", "inner_setup"}
    assert get("inner_setup").downstream_task_ids == {"inner_teardown", "inner_work"}
    assert get("inner_teardown").upstream_task_ids == {"inner_setup", "inner_work"}
    assert get("job").downstream_task_ids == {"other"}


def test_context_manager_needs_a_setup_or_teardown() -> None:
    from aerovane.authoring.exceptions import AerovaneException

    with DAG("st_ctx_bad", schedule=None, start_date=START):
        plain = EmptyOperator(task_id="plain")
        with pytest.raises(AerovaneException, match="Only setup/teardown tasks"), plain:
            pass
