"""Airflow 2 DAG idioms end to end through the real scheduler and executor: pendulum dates and
timezones in templates, task groups, and setup/teardown run semantics."""

from __future__ import annotations

import datetime as dt

from tests.engine.conftest import Engine

DAG_FILES = {
    "pendulum_dates.py": """
        import pendulum
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        from airflow.utils.dates import days_ago
        from airflow.utils import timezone

        assert isinstance(days_ago(1), pendulum.DateTime)
        with DAG(
            "pendulum_dates",
            schedule="0 9 * * *",
            start_date=pendulum.datetime(2021, 1, 1, tz="Europe/Amsterdam"),
            catchup=False,
            dagrun_timeout=pendulum.duration(minutes=10),
        ):
            BashOperator(
                task_id="show",
                bash_command=(
                    "echo next={{ logical_date.add(days=1).format('YYYY-MM-DD') }} "
                    "ago={{ macros.ds_add(ds, -7) }} "
                    "tz={{ dag.timezone.name }} "
                    "prev_success={{ prev_start_date_success.isoformat() "
                    "if prev_start_date_success else 'none' }} "
                    "aware={{ macros.datetime(2021, 1, 1).isoformat() }}"
                ),
            )
    """,
    "groups.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task, task_group
        from airflow.operators.empty import EmptyOperator
        from airflow.utils.task_group import TaskGroup

        with DAG("groups", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            start = EmptyOperator(task_id="start")

            @task
            def double(x):
                return x * 2

            @task
            def add_one(x):
                return x + 1

            @task_group
            def pipeline(x):
                return add_one(double(x))

            with TaskGroup("section", default_args={"retries": 0}) as section:
                first = pipeline(1)
                second = pipeline(first)

            @task
            def report(value):
                print(f"result={value}")

            start >> section >> report(second)
    """,
    "teardowns.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import setup, task, teardown
        from airflow.operators.bash import BashOperator

        START = pendulum.datetime(2024, 1, 1)

        with DAG("work_fails", schedule=None, start_date=START):
            create = BashOperator(task_id="create", bash_command="echo created")
            work = BashOperator(task_id="work", bash_command="exit 1")
            delete = BashOperator(task_id="delete", bash_command="echo deleted")
            create >> work >> delete.as_teardown(setups=create)

        with DAG("teardown_fails", schedule=None, start_date=START):

            @setup
            def make():
                return "resource"

            @task
            def use(resource):
                print("using", resource)

            @teardown
            def clean(resource):
                raise RuntimeError("cleanup broke")

            resource = make()
            use(resource) >> clean(resource)

        with DAG("teardown_fails_run", schedule=None, start_date=START):

            @setup
            def make():
                return "resource"

            @task
            def use(resource):
                print("using", resource)

            @teardown(on_failure_fail_dagrun=True)
            def clean(resource):
                raise RuntimeError("cleanup broke")

            resource = make()
            use(resource) >> clean(resource)

        with DAG("setup_fails", schedule=None, start_date=START):
            s = BashOperator(task_id="s", bash_command="exit 1").as_setup()
            a = BashOperator(task_id="a", bash_command="true")
            w = BashOperator(task_id="w", bash_command="true", trigger_rule="all_done")
            t = BashOperator(task_id="t", bash_command="true")
            s >> a >> w >> t.as_teardown(setups=s)
    """,
}


def test_pendulum_dates_and_prev_success_in_templates(engine: Engine) -> None:
    engine.wait_dag("pendulum_dates")
    first = engine.trigger("pendulum_dates", logical_date=dt.datetime(2024, 3, 5, tzinfo=dt.UTC))
    assert engine.wait_run("pendulum_dates", first) == "success"
    log = engine.log("pendulum_dates", first, "show")
    assert "next=2024-03-06 ago=2024-02-27 tz=Europe/Amsterdam prev_success=none" in log
    assert "aware=2021-01-01T00:00:00" in log
    second = engine.trigger("pendulum_dates", logical_date=dt.datetime(2024, 3, 6, tzinfo=dt.UTC))
    assert engine.wait_run("pendulum_dates", second) == "success"
    log = engine.log("pendulum_dates", second, "show")
    assert f"prev_success={run_start(first).isoformat()} " in log


def run_start(run_id: str) -> dt.datetime:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        started = session.scalar(
            select(models.DagRun.start_date).where(models.DagRun.run_id == run_id)
        )
    assert started is not None
    return started.astimezone(dt.UTC)


def test_task_groups_run_with_prefixed_ids(engine: Engine) -> None:
    engine.wait_dag("groups")
    run_id = engine.trigger("groups")
    assert engine.wait_run("groups", run_id) == "success"
    tis = engine.tis("groups", run_id)
    assert set(tis) == {
        "start",
        "section.pipeline.double",
        "section.pipeline.add_one",
        "section.pipeline__1.double",
        "section.pipeline__1.add_one",
        "report",
    }
    assert all(ti.state == "success" for ti in tis.values())
    assert "result=7" in engine.log("groups", run_id, "report")  # ((1*2)+1)*2+1


def test_teardown_runs_after_failed_work_and_run_fails(engine: Engine) -> None:
    engine.wait_dag("work_fails")
    run_id = engine.trigger("work_fails")
    assert engine.wait_run("work_fails", run_id) == "failed"
    states = {k: v.state for k, v in engine.tis("work_fails", run_id).items()}
    assert states == {"create": "success", "work": "failed", "delete": "success"}
    assert "deleted" in engine.log("work_fails", run_id, "delete")


def test_failed_teardown_does_not_fail_the_run_unless_asked(engine: Engine) -> None:
    engine.wait_dag("teardown_fails")
    quiet = engine.trigger("teardown_fails")
    assert engine.wait_run("teardown_fails", quiet) == "success"
    assert engine.tis("teardown_fails", quiet)["clean"].state == "failed"
    loud = engine.trigger("teardown_fails_run")
    assert engine.wait_run("teardown_fails_run", loud) == "failed"
    states = {k: v.state for k, v in engine.tis("teardown_fails_run", loud).items()}
    assert states == {"make": "success", "use": "success", "clean": "failed"}


def test_failed_setup_stops_its_work_and_teardown(engine: Engine) -> None:
    engine.wait_dag("setup_fails")
    run_id = engine.trigger("setup_fails")
    assert engine.wait_run("setup_fails", run_id) == "failed"
    states = {k: v.state for k, v in engine.tis("setup_fails", run_id).items()}
    # w waits on all_done, but a setup further up failed: upstream_failed, as Airflow decides
    # (without that constraint all_done would run it); the teardown has no setup to undo.
    assert states == {
        "s": "failed",
        "a": "upstream_failed",
        "w": "upstream_failed",
        "t": "upstream_failed",
    }
