"""Core operators, decorators and callbacks end to end through the real scheduler + executor.

The DAG files use the `airflow` import paths, as users' Airflow 2 files do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Engine, wait_for
from tests.smtp_sink import SmtpSink, smtp_sink

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

_RECORDER = """
import datetime, json, os
OUT = os.path.join(os.environ["AEROVANE_HOME"], "callbacks.jsonl")
def record(kind):
    def callback(context):
        exc = context.get("exception")
        with open(OUT, "a") as out:
            out.write(json.dumps({
                "kind": kind,
                "dag": context["dag"].dag_id,
                "task": context["ti"].task_id if "ti" in context else None,
                "run_id": context["run_id"],
                "exception": repr(exc) if exc else None,
                "reason": context.get("reason"),
                "pid": os.getpid(),
            }) + "\\n")
    return callback
"""

DAG_FILES = {
    "callbacks.py": _RECORDER
    + f"""
from airflow import DAG
from airflow.exceptions import AirflowSkipException
from airflow.operators.python import PythonOperator, get_current_context

def from_context():
    context = get_current_context()
    return f"{{context['ti'].task_id}}@{{context['run_id']}}"

def fail():
    raise ValueError("boom")

def skip():
    raise AirflowSkipException("not today")

with DAG("callbacks", schedule=None, start_date={START}):
    PythonOperator(
        task_id="ok",
        python_callable=from_context,
        on_execute_callback=record("execute"),
        on_success_callback=[record("success"), record("success2")],
    )
    PythonOperator(
        task_id="bad",
        python_callable=fail,
        retries=1,
        retry_delay=datetime.timedelta(seconds=0),
        on_retry_callback=record("retry"),
        on_failure_callback=record("failure"),
    )
    PythonOperator(task_id="skipper", python_callable=skip, on_skipped_callback=record("skipped"))

with DAG("dag_cb_ok", schedule=None, start_date={START},
         on_success_callback=[record("dag_success"), record("dag_success2")],
         on_failure_callback=record("dag_failure")):
    PythonOperator(task_id="first", python_callable=lambda: 1) >> PythonOperator(
        task_id="last", python_callable=lambda: 2)

with DAG("dag_cb_fail", schedule=None, start_date={START},
         on_success_callback=record("dag_success"), on_failure_callback=record("dag_failure")):
    PythonOperator(task_id="ok", python_callable=lambda: 1)
    PythonOperator(task_id="broken", python_callable=fail)
""",
    "mail.py": f"""
import datetime
from airflow import DAG
from airflow.operators.email import EmailOperator
from airflow.operators.python import PythonOperator

def fail():
    raise RuntimeError("disk full")

with DAG("mail", schedule=None, start_date={START},
         default_args={{"email": ["oncall@example.com"], "email_on_retry": True}}):
    EmailOperator(task_id="report", to="team@example.com", subject="Report {{{{ ds }}}}",
                  html_content="<p>{{{{ dag.dag_id }}}} ran</p>")
    PythonOperator(task_id="broken", python_callable=fail, retries=1,
                   retry_delay=datetime.timedelta(seconds=0))
    PythonOperator(task_id="quiet", python_callable=fail, email_on_failure=False)
""",
    "venv.py": f"""
import datetime
from airflow.decorators import dag, task
from airflow.operators.python import PythonVirtualenvOperator

def with_six(n):
    import six
    return {{"n": n * 2, "six": six.PY3}}

@dag(schedule=None, start_date={START})
def venv():
    @task.virtualenv(requirements=["six"], system_site_packages=False)
    def tf(ds=None):
        import six
        return f"{{ds}} {{six.PY3}}"

    tf() >> PythonVirtualenvOperator(
        task_id="classic", python_callable=with_six, op_args=[21], requirements=["six"],
        system_site_packages=False,
    )

venv()
""",
    "trigger_wait.py": f"""
import datetime
from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.trigger_dagrun import TriggerDagRunOperator

with DAG("tw_child", schedule=None, start_date={START}):
    BashOperator(task_id="work", bash_command="exit {{{{ dag_run.conf.get('code', 0) }}}}")

with DAG("tw_parent", schedule=None, start_date={START}):
    TriggerDagRunOperator(task_id="fails", trigger_dag_id="tw_child", conf={{"code": 1}},
                          wait_for_completion=True, poke_interval=0.1)
    TriggerDagRunOperator(task_id="tolerates", trigger_dag_id="tw_child", conf={{"code": 1}},
                          wait_for_completion=True, poke_interval=0.1,
                          allowed_states=["failed"], failed_states=["success"])
    TriggerDagRunOperator(task_id="reset", trigger_dag_id="tw_child",
                          trigger_run_id="fixed_{{{{ dag_run.conf.get('n', 0) }}}}",
                          reset_dag_run=True, wait_for_completion=True, poke_interval=0.1)
""",
    "sla.py": _RECORDER
    + f"""
from airflow import DAG
from airflow.operators.python import PythonOperator

def on_sla_miss(dag, task_list, blocking_task_list, slas, blocking_tis):
    with open(os.path.join(os.environ["AEROVANE_HOME"], "sla.jsonl"), "a") as out:
        out.write(json.dumps({{
            "dag": dag.dag_id,
            "task_list": task_list,
            "slas": [s.task_id for s in slas],
            "blocking": sorted(ti.task_id for ti in blocking_tis),
        }}) + "\\n")

with DAG("sla_dag", schedule=None, start_date={START}, sla_miss_callback=on_sla_miss):
    PythonOperator(task_id="late", python_callable=lambda: 1,
                   sla=datetime.timedelta(seconds=1), email="sla@example.com")
    PythonOperator(task_id="no_sla", python_callable=lambda: 1)
""",
    "core_ops.py": f"""
import datetime
from airflow import DAG
from airflow.decorators import task
from airflow.operators.datetime import BranchDateTimeOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.latest_only import LatestOnlyOperator
from airflow.operators.weekday import BranchDayOfWeekOperator
from airflow.utils.edgemodifier import Label
from airflow.utils.weekday import WeekDay

with DAG("core_ops", schedule=None, start_date={START}):
    LatestOnlyOperator(task_id="latest_only") >> EmptyOperator(task_id="after_latest")
    BranchDayOfWeekOperator(
        task_id="weekday", week_day=list(WeekDay), follow_task_ids_if_true="wd_yes",
        follow_task_ids_if_false="wd_no",
    ) >> [EmptyOperator(task_id="wd_yes"), EmptyOperator(task_id="wd_no")]
    window = BranchDateTimeOperator(
        task_id="window", target_lower=datetime.datetime(2000, 1, 1), target_upper=None,
        follow_task_ids_if_true="in_window", follow_task_ids_if_false="outside",
    )
    window >> Label("since 2000") >> EmptyOperator(task_id="in_window")
    window >> Label("before 2000") >> EmptyOperator(task_id="outside")

    @task.bash
    def command(word):
        return f"echo {{word}}"

    @task.short_circuit
    def gate():
        return False

    @task.branch
    def pick():
        return "picked"

    command("hello")
    gate() >> EmptyOperator(task_id="behind_gate")
    pick() >> [EmptyOperator(task_id="picked"), EmptyOperator(task_id="not_picked")]
""",
}


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    with smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def engine_env(smtp: SmtpSink) -> dict[str, str]:
    return {
        "AEROVANE__SMTP__SMTP_HOST": "127.0.0.1",
        "AEROVANE__SMTP__SMTP_PORT": str(smtp.port),
        "AEROVANE__SMTP__SMTP_STARTTLS": "False",
    }


def _records(engine: Engine) -> list[dict[str, Any]]:
    path = Path(engine.home) / "callbacks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _xcom(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        value = session.scalar(
            select(models.XCom.value).where(
                models.XCom.dag_id == dag_id,
                models.XCom.run_id == run_id,
                models.XCom.task_id == task_id,
                models.XCom.key == key,
            )
        )
    return None if value is None else json.loads(value)


def test_task_callbacks_and_current_context(engine: Engine) -> None:
    engine.wait_dag("callbacks")
    run_id = engine.trigger("callbacks")
    assert engine.wait_run("callbacks", run_id) == "failed"
    tis = engine.tis("callbacks", run_id)
    assert {t: ti.state for t, ti in tis.items()} == {
        "ok": "success",
        "bad": "failed",
        "skipper": "skipped",
    }
    assert _xcom("callbacks", run_id, "ok") == f"ok@{run_id}"

    def task_records() -> list[dict[str, Any]]:
        return [r for r in _records(engine) if r["dag"] == "callbacks"]

    records = wait_for(lambda: len(r := task_records()) >= 6 and r, 120, "the task callbacks")
    by_kind = {(r["kind"], r["task"]): r for r in records}
    assert set(by_kind) == {
        ("execute", "ok"),
        ("success", "ok"),
        ("success2", "ok"),
        ("retry", "bad"),
        ("failure", "bad"),
        ("skipped", "skipper"),
    }
    assert by_kind[("failure", "bad")]["exception"] == "ValueError('boom')"
    assert by_kind[("retry", "bad")]["exception"] == "ValueError('boom')"
    assert by_kind[("success", "ok")]["exception"] is None
    assert all(r["run_id"] == run_id for r in records)


def test_email_operator_and_failure_and_retry_alerts(engine: Engine, smtp: SmtpSink) -> None:
    engine.wait_dag("mail")
    run_id = engine.trigger("mail")
    assert engine.wait_run("mail", run_id) == "failed"
    assert engine.tis("mail", run_id)["report"].state == "success"
    mails = wait_for(lambda: len(smtp.messages) >= 3 and smtp.messages, 120, "three mails")
    by_to = {}
    for _, rcpt, msg in mails:
        by_to.setdefault(tuple(rcpt), []).append(msg)
    [report] = by_to[("team@example.com",)]
    assert report["Subject"].startswith("Report 20")
    alerts = sorted(m["Subject"] for m in by_to[("oncall@example.com",)])
    # One mail for the retry, one for the final failure of "broken"; "quiet" opted out.
    assert len(alerts) == 2
    assert all(s.startswith("Airflow alert: <TaskInstance: mail.broken") for s in alerts)
    assert any("[up_for_retry]" in s for s in alerts) and any("[failed]" in s for s in alerts)
    body = by_to[("oncall@example.com",)][0].get_payload()[0].get_payload(decode=True).decode()
    assert "RuntimeError(&#x27;disk full&#x27;)" in body


def test_virtualenv_tasks_share_one_cached_environment(engine: Engine) -> None:
    engine.wait_dag("venv")
    run_id = engine.trigger("venv")
    assert engine.wait_run("venv", run_id, timeout=180) == "success"
    assert _xcom("venv", run_id, "tf").endswith(" True")
    assert _xcom("venv", run_id, "classic") == {"n": 42, "six": True}
    cache = Path(engine.home) / "venv_cache"
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
    assert "Reusing cached virtualenv" in engine.log("venv", run_id, "classic")


def test_trigger_dag_run_waits_for_states_and_resets(engine: Engine) -> None:
    engine.wait_dag("tw_parent")
    engine.wait_dag("tw_child")
    first = engine.trigger("tw_parent")
    assert engine.wait_run("tw_parent", first, timeout=60) == "failed"
    tis = engine.tis("tw_parent", first)
    assert {t: ti.state for t, ti in tis.items()} == {
        "fails": "failed",
        "tolerates": "success",
        "reset": "success",
    }
    assert "tw_child failed with failed states failed" in engine.log("tw_parent", first, "fails")
    assert engine.run_state("tw_child", "fixed_0") == "success"
    # A second parent run triggers the same child run id: reset_dag_run clears and reruns it.
    second = engine.trigger("tw_parent")
    assert engine.wait_run("tw_parent", second, timeout=60) == "failed"
    assert engine.tis("tw_parent", second)["reset"].state == "success"
    assert "Cleared existing run fixed_0" in engine.log("tw_parent", second, "reset")
    assert _xcom("tw_parent", second, "reset", "trigger_run_id") == "fixed_0"


def test_dag_callbacks_run_outside_the_scheduler(engine: Engine) -> None:
    assert engine.proc is not None
    engine.wait_dag("dag_cb_ok")
    engine.wait_dag("dag_cb_fail")
    ok_run = engine.trigger("dag_cb_ok")
    fail_run = engine.trigger("dag_cb_fail")
    assert engine.wait_run("dag_cb_ok", ok_run) == "success"
    assert engine.wait_run("dag_cb_fail", fail_run) == "failed"

    def dag_records() -> list[dict[str, Any]]:
        return [r for r in _records(engine) if r["dag"] in ("dag_cb_ok", "dag_cb_fail")]

    records = wait_for(lambda: len(r := dag_records()) >= 3 and r, 120, "the DAG callbacks")
    got = {(r["dag"], r["kind"]): r for r in records}
    assert set(got) == {
        ("dag_cb_ok", "dag_success"),
        ("dag_cb_ok", "dag_success2"),
        ("dag_cb_fail", "dag_failure"),
    }
    assert got[("dag_cb_ok", "dag_success")]["reason"] == "success"
    assert got[("dag_cb_ok", "dag_success")]["task"] == "last"
    assert got[("dag_cb_ok", "dag_success")]["run_id"] == ok_run
    assert got[("dag_cb_fail", "dag_failure")]["reason"] == "task_failure"
    assert got[("dag_cb_fail", "dag_failure")]["task"] == "broken"
    assert all(r["pid"] != engine.proc.pid for r in records)
    from sqlalchemy import func, select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(models.CallbackRequest)) == 0


def test_sla_misses_are_recorded_called_back_and_mailed(engine: Engine, smtp: SmtpSink) -> None:
    import datetime as dt

    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    engine.wait_dag("sla_dag")
    logical = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)  # its deadline passed long ago
    run_id = engine.trigger("sla_dag", logical_date=logical)
    assert engine.wait_run("sla_dag", run_id) == "success"
    path = Path(engine.home) / "sla.jsonl"
    lines = wait_for(lambda: path.exists() and path.read_text().splitlines(), 120, "the SLA call")
    [call] = [json.loads(line) for line in lines]
    assert call["dag"] == "sla_dag"
    assert call["slas"] == ["late"]
    assert call["task_list"] == "late on 2024-02-01T00:00:00+00:00"

    def notified() -> list[models.SlaMiss]:
        with create_session(readonly=True) as session:
            rows = list(session.scalars(select(models.SlaMiss)))
            session.expunge_all()
        return [r for r in rows if r.notification_sent and r.email_sent] and rows

    [miss] = wait_for(notified, 120, "the miss to be marked notified and mailed")
    assert (miss.dag_id, miss.task_id, miss.execution_date) == ("sla_dag", "late", logical)
    mails = [m for _, rcpt, m in smtp.messages if rcpt == ["sla@example.com"]]
    assert [m["Subject"] for m in mails] == ["[airflow] SLA miss on DAG=sla_dag"]


def test_core_operators_and_decorators_in_a_run(engine: Engine) -> None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    engine.wait_dag("core_ops")
    run_id = engine.trigger("core_ops")
    assert engine.wait_run("core_ops", run_id) == "success"
    states = {t: ti.state for t, ti in engine.tis("core_ops", run_id).items()}
    assert states == {
        "latest_only": "success",
        "after_latest": "success",  # a triggered run is never skipped by LatestOnly
        "weekday": "success",
        "wd_yes": "success",
        "wd_no": "skipped",
        "window": "success",
        "in_window": "success",
        "outside": "skipped",
        "command": "success",
        "gate": "success",
        "behind_gate": "skipped",
        "pick": "success",
        "picked": "success",
        "not_picked": "skipped",
    }
    assert _xcom("core_ops", run_id, "command") == "hello"
    with create_session(readonly=True) as session:
        data = session.scalar(
            select(models.SerializedDagModel.data).where(
                models.SerializedDagModel.dag_id == "core_ops"
            )
        )
    assert data["edge_info"] == {
        "window": {"in_window": {"label": "since 2000"}, "outside": {"label": "before 2000"}}
    }
