"""The engine end to end: parse, trigger, schedule, run in separate processes, record."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal

import pytest

from tests.engine.conftest import Engine, wait_for, write_dag

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

DAG_FILES = {
    "conf_echo.py": f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("conf_echo", schedule=None, start_date={START}, params={{"who": "world"}}):
            BashOperator(
                task_id="echo",
                bash_command="echo conf={{{{ dag_run.conf }}}} ds={{{{ ds }}}} "
                "who={{{{ params.who }}}} run={{{{ run_id }}}}",
            )
    """,
    "rules.py": f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator, EmptyOperator
        with DAG("rules", schedule=None, start_date={START}):
            ok = BashOperator(task_id="ok", bash_command="true")
            bad = BashOperator(task_id="bad", bash_command="exit 3")
            skip = BashOperator(task_id="skip", bash_command="exit 99")
            rules = ["all_success", "all_failed", "all_done", "one_success", "one_failed",
                     "none_failed", "none_failed_min_one_success", "none_skipped", "always"]
            for rule in rules:
                [ok, bad] >> EmptyOperator(task_id=f"okbad_{{rule}}", trigger_rule=rule)
                [ok, skip] >> EmptyOperator(task_id=f"okskip_{{rule}}", trigger_rule=rule)
    """,
    "retries.py": f"""
        import datetime
        from aerovane.authoring import DAG, PythonOperator
        def flaky(ti):
            print("attempt", ti.try_number)
            if ti.try_number < 3:
                raise RuntimeError("not yet")
            return "third time lucky"
        with DAG("retries", schedule=None, start_date={START}):
            PythonOperator(task_id="flaky", python_callable=flaky, retries=2,
                           retry_delay=datetime.timedelta(seconds=0))
            PythonOperator(task_id="always_fails", python_callable=lambda: 1 / 0, retries=1,
                           retry_delay=datetime.timedelta(seconds=0))
    """,
    "timeouts.py": f"""
        import datetime, time
        from aerovane.authoring import DAG, BashOperator, PythonOperator
        with DAG("timeouts", schedule=None, start_date={START}):
            PythonOperator(task_id="py_sleep", python_callable=lambda: time.sleep(30),
                           execution_timeout=datetime.timedelta(seconds=1))
            BashOperator(task_id="bash_sleep", bash_command="sleep 30",
                         execution_timeout=datetime.timedelta(seconds=1))
    """,
    "xcoms.py": f"""
        import datetime
        from aerovane.authoring import dag, task, PythonOperator
        @dag(schedule=None, start_date={START})
        def xcoms():
            @task
            def numbers():
                return [1, 2, 3]
            @task(multiple_outputs=True)
            def stats(values):
                return {{"total": sum(values), "count": len(values)}}
            @task
            def report(total, count):
                print(f"total={{total}} count={{count}}")
                return total / count
            s = stats(numbers())
            report(s["total"], s["count"])
            def pull(ti):
                print("pulled", ti.xcom_pull(task_ids="numbers"))
                ti.xcom_push(key="extra", value={{"k": "v"}})
            s >> PythonOperator(task_id="puller", python_callable=pull)
        xcoms()
    """,
    "branching.py": f"""
        import datetime
        from aerovane.authoring import (
            DAG, BranchPythonOperator, ShortCircuitOperator, EmptyOperator)
        with DAG("branching", schedule=None, start_date={START}):
            pick = BranchPythonOperator(task_id="pick", python_callable=lambda: "left")
            left, right = EmptyOperator(task_id="left"), EmptyOperator(task_id="right")
            join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
            pick >> [left, right] >> join
            gate = ShortCircuitOperator(task_id="gate", python_callable=lambda: False)
            gate >> EmptyOperator(task_id="after_gate") >> EmptyOperator(task_id="after_after")
    """,
    "sleeper.py": f"""
        import datetime, time
        from aerovane.authoring import DAG, PythonOperator
        with DAG("sleeper", schedule=None, start_date={START}):
            PythonOperator(task_id="sleep", python_callable=lambda: time.sleep(60))
    """,
    "catchup.py": """
        import datetime
        from aerovane.authoring import DAG, EmptyOperator, BashOperator
        start = datetime.datetime.now(datetime.timezone.utc).replace(
            hour=0, minute=0, second=0, microsecond=0) - datetime.timedelta(days=3)
        with DAG("catchup_daily", schedule="@daily", start_date=start, catchup=True,
                 max_active_runs=16):
            BashOperator(task_id="show",
                         bash_command="echo {{ data_interval_start }} {{ data_interval_end }}")
        with DAG("no_catchup_daily", schedule="@daily", start_date=start, catchup=False):
            EmptyOperator(task_id="noop")
    """,
    "limits.py": f"""
        import datetime, time
        from aerovane.authoring import DAG, PythonOperator
        def nap():
            time.sleep(0.3)
        with DAG("pooled", schedule=None, start_date={START}):
            for i in range(3):
                PythonOperator(task_id=f"p{{i}}", python_callable=nap, pool="single")
        with DAG("one_task_at_a_time", schedule=None, start_date={START}, max_active_tasks=1):
            for i in range(3):
                PythonOperator(task_id=f"m{{i}}", python_callable=nap)
        with DAG("one_run_at_a_time", schedule=None, start_date={START}, max_active_runs=1):
            PythonOperator(task_id="r", python_callable=nap)
    """,
    "datasets.py": f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator, Dataset
        orders = Dataset("s3://bucket/orders.csv")
        with DAG("producer", schedule=None, start_date={START}):
            BashOperator(task_id="write", bash_command="echo writing", outlets=[orders])
        with DAG("consumer", schedule=[orders], start_date={START}):
            BashOperator(task_id="read", bash_command="echo reading {{{{ run_id }}}}")
    """,
    "trigger_other.py": f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator, TriggerDagRunOperator
        with DAG("parent", schedule=None, start_date={START}):
            TriggerDagRunOperator(task_id="kick", trigger_dag_id="child",
                                  trigger_run_id="from_parent_{{{{ run_id }}}}",
                                  conf={{"origin": "{{{{ dag.dag_id }}}}"}},
                                  wait_for_completion=True, poke_interval=0.2)
        with DAG("child", schedule=None, start_date={START}):
            BashOperator(task_id="show", bash_command="echo origin={{{{ dag_run.conf.origin }}}}")
    """,
    "airflow_sample.py": """
        import datetime

        import airflow
        from airflow.operators import bash_operator

        default_args = {
            "owner": "Composer Example",
            "retries": 1,
            "retry_delay": datetime.timedelta(minutes=5),
            "start_date": airflow.utils.dates.days_ago(1),
        }

        with airflow.DAG(
            "composer_sample_trigger_response_dag",
            default_args=default_args,
            schedule_interval=None,
        ) as dag:
            print_gcs_info = bash_operator.BashOperator(
                task_id="print_gcs_info", bash_command="echo {{ dag_run.conf }}"
            )
    """,
    "broken.py": """
        from aerovane.authoring import DAG
        raise ValueError("this DAG file is broken on purpose")
    """,
}


@pytest.fixture(scope="module", autouse=True)
def _parsed(engine: Engine) -> None:
    for dag_id in (
        "producer",
        "consumer",
        "pooled",
        "one_task_at_a_time",
        "one_run_at_a_time",
        "conf_echo",
        "rules",
        "retries",
        "timeouts",
        "xcoms",
        "branching",
        "sleeper",
        "catchup_daily",
        "no_catchup_daily",
    ):
        engine.wait_dag(dag_id)


def test_manual_run_renders_templates_and_logs_conf(engine: Engine) -> None:
    run_id = engine.trigger("conf_echo", conf={"a": 1})
    assert engine.wait_run("conf_echo", run_id) == "success"
    ti = engine.tis("conf_echo", run_id)["echo"]
    assert ti.state == "success" and ti.try_number == 1 and ti.pid and ti.hostname
    assert ti.duration is not None and ti.end_date >= ti.start_date
    log = engine.log("conf_echo", run_id, "echo")
    assert "conf={'a': 1}" in log
    assert f"run={run_id}" in log and "who=world" in log


def test_run_id_of_the_longest_length_airflow_accepts_runs_and_logs(engine: Engine) -> None:
    """`run_id=` plus 250 characters is longer than a file name may be (issue 14)."""
    long_id = "manual__" + "r" * 242
    run_id = engine.trigger("conf_echo", run_id=long_id)
    assert run_id == long_id
    assert engine.wait_run("conf_echo", run_id) == "success"
    assert f"run={run_id}" in engine.log("conf_echo", run_id, "echo")


def test_trigger_rules(engine: Engine) -> None:
    run_id = engine.trigger("rules")
    assert engine.wait_run("rules", run_id) == "failed"  # leaves include upstream_failed ones
    states = {k: v.state for k, v in engine.tis("rules", run_id).items()}
    assert states["ok"] == "success" and states["bad"] == "failed" and states["skip"] == "skipped"
    expected_okbad = {
        "all_success": "upstream_failed",
        "all_failed": "skipped",
        "all_done": "success",
        "one_success": "success",
        "one_failed": "success",
        "none_failed": "upstream_failed",
        "none_failed_min_one_success": "upstream_failed",
        "none_skipped": "success",
        "always": "success",
    }
    expected_okskip = {
        "all_success": "skipped",
        "all_failed": "skipped",
        "all_done": "success",
        "one_success": "success",
        "one_failed": "skipped",
        "none_failed": "success",
        "none_failed_min_one_success": "success",
        "none_skipped": "skipped",
        "always": "success",
    }
    assert {r: states[f"okbad_{r}"] for r in expected_okbad} == expected_okbad
    assert {r: states[f"okskip_{r}"] for r in expected_okskip} == expected_okskip


def test_retries_then_success_and_exhausted_retries(engine: Engine) -> None:
    run_id = engine.trigger("retries")
    assert engine.wait_run("retries", run_id) == "failed"
    tis = engine.tis("retries", run_id)
    assert tis["flaky"].state == "success" and tis["flaky"].try_number == 3
    assert tis["always_fails"].state == "failed" and tis["always_fails"].try_number == 2
    assert "attempt 1" in engine.log("retries", run_id, "flaky", 1)
    assert "attempt 3" in engine.log("retries", run_id, "flaky", 3)
    assert "ZeroDivisionError" in engine.log("retries", run_id, "always_fails", 2)
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        tries = session.execute(
            select(models.TaskInstanceHistory.try_number, models.TaskInstanceHistory.state).where(
                models.TaskInstanceHistory.run_id == run_id,
                models.TaskInstanceHistory.task_id == "flaky",
            )
        ).all()
    assert sorted(tries) == [(1, "failed"), (2, "failed")]


def test_execution_timeout_fails_python_and_bash(engine: Engine) -> None:
    run_id = engine.trigger("timeouts")
    assert engine.wait_run("timeouts", run_id, timeout=120) == "failed"
    tis = engine.tis("timeouts", run_id)
    for task_id in ("py_sleep", "bash_sleep"):
        assert tis[task_id].state == "failed"
        assert tis[task_id].duration < 10
        assert "Timeout" in engine.log("timeouts", run_id, task_id)


def test_taskflow_xcom(engine: Engine) -> None:
    from aerovane.runtime.xcom import pull

    run_id = engine.trigger("xcoms")
    assert engine.wait_run("xcoms", run_id) == "success"
    assert "total=6 count=3" in engine.log("xcoms", run_id, "report")
    run = _run_row("xcoms", run_id)
    assert pull(dag_run_id=run.id, task_ids=["report"], key="return_value") == {"report": 2.0}
    assert pull(dag_run_id=run.id, task_ids=["stats"], key="total") == {"stats": 6}
    assert "pulled [1, 2, 3]" in engine.log("xcoms", run_id, "puller")
    assert pull(dag_run_id=run.id, task_ids=["puller"], key="extra") == {"puller": {"k": "v"}}


def test_branch_and_short_circuit(engine: Engine) -> None:
    run_id = engine.trigger("branching")
    assert engine.wait_run("branching", run_id) == "success"
    states = {k: v.state for k, v in engine.tis("branching", run_id).items()}
    assert states["left"] == "success" and states["right"] == "skipped"
    assert states["join"] == "success"
    assert states["after_gate"] == "skipped" and states["after_after"] == "skipped"


def test_task_process_killed_with_sigkill_is_failed(engine: Engine) -> None:
    run_id = engine.trigger("sleeper")
    ti = wait_for(
        lambda: (t := engine.tis("sleeper", run_id)["sleep"]).state == "running" and t.pid and t,
        20,
        "the task to run",
    )
    os.kill(ti.pid, signal.SIGKILL)
    assert engine.wait_run("sleeper", run_id, timeout=120) == "failed"
    ti = engine.tis("sleeper", run_id)["sleep"]
    assert ti.state == "failed"
    assert "SIGKILL" in engine.log("sleeper", run_id, "sleep")


def test_catchup_creates_a_run_per_interval(engine: Engine) -> None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    def runs(dag_id: str) -> list[models.DagRun]:
        with create_session(readonly=True) as session:
            return list(
                session.scalars(
                    select(models.DagRun)
                    .where(models.DagRun.dag_id == dag_id)
                    .order_by(models.DagRun.logical_date)
                )
            )

    catchup = wait_for(lambda: len(r := runs("catchup_daily")) >= 3 and r, 120, "3 catch-up runs")
    assert [r.run_type for r in catchup] == ["scheduled"] * 3
    for run in catchup:
        assert run.data_interval_end - run.data_interval_start == dt.timedelta(days=1)
        assert run.logical_date == run.data_interval_start
    for run in catchup:
        assert engine.wait_run("catchup_daily", run.run_id) == "success"
    no_catchup = wait_for(lambda: runs("no_catchup_daily"), 120, "the latest run")
    assert len(no_catchup) == 1
    assert no_catchup[0].data_interval_end == catchup[-1].data_interval_end


def test_import_errors_are_recorded_and_cleared(engine: Engine) -> None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    def errors() -> list[models.ImportErrorModel]:
        with create_session(readonly=True) as session:
            return list(session.scalars(select(models.ImportErrorModel)))

    found = wait_for(errors, 120, "an import error")
    assert any(
        "broken on purpose" in e.stacktrace and e.filename.endswith("broken.py") for e in found
    )
    write_dag(
        engine.dags,
        "broken.py",
        """
        import datetime
        from aerovane.authoring import DAG, EmptyOperator
        with DAG("fixed_now", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
            EmptyOperator(task_id="noop")
    """,
    )
    engine.wait_dag("fixed_now", timeout=120)
    wait_for(lambda: not errors(), 120, "the import error to clear")


def test_changed_file_is_reparsed_and_runs_new_code(engine: Engine) -> None:
    write_dag(
        engine.dags,
        "changing.py",
        """
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("changing", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
            BashOperator(task_id="say", bash_command="echo version-one")
    """,
    )
    engine.wait_dag("changing")
    run_id = engine.trigger("changing")
    assert engine.wait_run("changing", run_id) == "success"
    assert "version-one" in engine.log("changing", run_id, "say")
    write_dag(
        engine.dags,
        "changing.py",
        """
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("changing", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
            BashOperator(task_id="say", bash_command="echo version-two")
            BashOperator(task_id="added", bash_command="echo new task")
    """,
    )
    from aerovane.db import models
    from aerovane.db.engine import create_session

    def has_new_task() -> bool:
        with create_session(readonly=True) as session:
            row = session.get(models.SerializedDagModel, "changing")
            return row is not None and any(t.get("task_id") == "added" for t in _tasks_of(row.data))

    wait_for(has_new_task, 120, "the changed file to be re-parsed")
    run_id = engine.trigger("changing")
    assert engine.wait_run("changing", run_id) == "success"
    assert "version-two" in engine.log("changing", run_id, "say")


def _tasks_of(data: dict) -> list[dict]:
    tasks = data.get("tasks") or data.get("dag", {}).get("tasks") or []
    return list(tasks.values()) if isinstance(tasks, dict) else list(tasks)


def _run_row(dag_id: str, run_id: str):
    from aerovane.db.engine import create_session
    from aerovane.services.dag_runs import get_dag_run

    with create_session(readonly=True) as session:
        return get_dag_run(dag_id, run_id, session=session)


def _assert_serial(intervals: list[tuple[dt.datetime, dt.datetime]]) -> None:
    intervals.sort()
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, f"overlap: {intervals}"


def test_pool_slots_limit_concurrency(engine: Engine) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        session.add(models.Pool(pool="single", slots=1, description="one at a time"))
    run_id = engine.trigger("pooled")
    assert engine.wait_run("pooled", run_id) == "success"
    _assert_serial([(t.start_date, t.end_date) for t in engine.tis("pooled", run_id).values()])


def test_max_active_tasks_and_runs(engine: Engine) -> None:
    run_id = engine.trigger("one_task_at_a_time")
    assert engine.wait_run("one_task_at_a_time", run_id) == "success"
    tis = engine.tis("one_task_at_a_time", run_id).values()
    _assert_serial([(t.start_date, t.end_date) for t in tis])
    first, second = engine.trigger("one_run_at_a_time"), engine.trigger("one_run_at_a_time")
    assert engine.wait_run("one_run_at_a_time", first) == "success"
    assert engine.wait_run("one_run_at_a_time", second) == "success"
    runs = [_run_row("one_run_at_a_time", r) for r in (first, second)]
    _assert_serial([(r.start_date, r.end_date) for r in runs])


def test_outlet_events_trigger_dataset_scheduled_dag(engine: Engine) -> None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    run_id = engine.trigger("producer")
    assert engine.wait_run("producer", run_id) == "success"

    def consumer_runs() -> list[models.DagRun]:
        with create_session(readonly=True) as session:
            return list(
                session.scalars(select(models.DagRun).where(models.DagRun.dag_id == "consumer"))
            )

    runs = wait_for(consumer_runs, 120, "a dataset-triggered run")
    assert [r.run_type for r in runs] == ["dataset_triggered"]
    assert engine.wait_run("consumer", runs[0].run_id) == "success"
    with create_session(readonly=True) as session:
        event = session.scalars(select(models.DatasetEvent)).one()
        assert event.dataset.uri == "s3://bucket/orders.csv"
        assert (event.source_dag_id, event.source_task_id, event.source_run_id) == (
            "producer",
            "write",
            run_id,
        )
        links = session.scalars(select(models.DagRunDatasetEvent)).all()
        assert [(link.dag_run_id, link.event_id) for link in links] == [(runs[0].id, event.id)]
        assert session.scalars(select(models.DatasetDagRunQueue)).all() == []


def test_trigger_dag_run_operator_waits_for_the_child(engine: Engine) -> None:
    run_id = engine.trigger("parent")
    assert engine.wait_run("parent", run_id) == "success"
    child_run = f"from_parent_{run_id}"
    assert engine.run_state("child", child_run) == "success"
    assert "origin=parent" in engine.log("child", child_run, "show")
    assert _run_row("child", child_run).triggered_by == "parent.kick"


def test_airflow_dag_file_runs_unchanged(engine: Engine) -> None:
    run_id = engine.trigger("composer_sample_trigger_response_dag", conf={"bucket": "b1"})
    assert engine.wait_run("composer_sample_trigger_response_dag", run_id) == "success"
    log = engine.log("composer_sample_trigger_response_dag", run_id, "print_gcs_info")
    assert "{bucket: b1}" in log
