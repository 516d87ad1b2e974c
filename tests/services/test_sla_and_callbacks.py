"""SLA miss detection and callback requests against a real database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from aerovane.authoring import DAG, BashOperator
from aerovane.authoring.serialization import serialize_dag
from aerovane.dag_processing.writer import store_parse_result
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.callbacks import claim_callback_requests, request_dag_callback
from aerovane.services.dag_runs import trigger_dag_run
from aerovane.services.sla import SLA_CALLBACK, record_sla_misses

LOGICAL = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
SLA = dt.timedelta(hours=1)
DEADLINE = LOGICAL + SLA  # a manual run's data interval ends at its logical date


@pytest.fixture
def run_id(db: Path) -> str:
    with DAG("sla_svc", schedule=None, start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)) as d:
        for task_id in ("running", "on_time", "late", "skipped"):
            BashOperator(task_id=task_id, bash_command="true", sla=SLA)
    with create_session() as session:
        store_parse_result("/dags/sla_svc.py", [serialize_dag(d)], None, session=session)
    with create_session() as session:
        run = trigger_dag_run("sla_svc", logical_date=LOGICAL, session=session)
        rid = run.run_id
    states = {
        "running": ("running", None),
        "on_time": ("success", DEADLINE - dt.timedelta(minutes=1)),
        "late": ("success", DEADLINE + dt.timedelta(minutes=1)),
        "skipped": ("skipped", DEADLINE + dt.timedelta(days=3)),
    }
    with create_session() as session:
        for task_id, (state, end) in states.items():
            session.execute(
                update(models.TaskInstance)
                .where(models.TaskInstance.run_id == rid, models.TaskInstance.task_id == task_id)
                .values(state=state, end_date=end)
            )
    return rid


def _record(now: dt.datetime, notify: bool = True) -> int:
    with create_session() as session:
        return record_sla_misses(
            dag_id="sla_svc",
            fileloc="/dags/sla_svc.py",
            slas={t: SLA for t in ("running", "on_time", "late", "skipped")},
            notify=notify,
            now=now,
            window=dt.timedelta(days=3650),
            session=session,
        )


def test_misses_are_recorded_once(run_id: str) -> None:
    assert _record(DEADLINE - dt.timedelta(seconds=1)) == 0  # nothing is late yet
    assert _record(DEADLINE + dt.timedelta(hours=2)) == 2
    assert _record(DEADLINE + dt.timedelta(hours=3)) == 0
    with create_session(readonly=True) as session:
        misses = session.scalars(select(models.SlaMiss)).all()
        assert sorted((m.task_id, m.execution_date) for m in misses) == [
            ("late", LOGICAL),
            ("running", LOGICAL),
        ]
        assert not any(m.notification_sent or m.email_sent for m in misses)
    with create_session() as session:
        [request] = claim_callback_requests(limit=10, session=session)
    assert request == {
        "dag_id": "sla_svc",
        "fileloc": "/dags/sla_svc.py",
        "callback_type": SLA_CALLBACK,
    }


def test_without_notify_no_callback_is_queued(run_id: str) -> None:
    assert _record(DEADLINE + dt.timedelta(hours=2), notify=False) == 2
    with create_session() as session:
        assert claim_callback_requests(limit=10, session=session) == []


def test_callback_requests_are_claimed_once_in_order(db: Path) -> None:
    with create_session() as session:
        for n in range(3):
            request_dag_callback(
                dag_id="d",
                run_id=f"r{n}",
                fileloc="/f.py",
                is_failure=n == 1,
                msg="m",
                session=session,
            )
    with create_session() as session:
        first = claim_callback_requests(limit=2, session=session)
    with create_session() as session:
        rest = claim_callback_requests(limit=2, session=session)
        assert claim_callback_requests(limit=2, session=session) == []
    assert [r["run_id"] for r in first + rest] == ["r0", "r1", "r2"]
    assert first[1]["is_failure_callback"] is True


def test_send_email_logs_in_with_the_smtp_default_connection(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.authoring.email import send_email
    from aerovane.config import reload_settings
    from aerovane.services.connections import create_connection
    from tests.smtp_sink import smtp_sink

    with create_session() as session:
        create_connection(
            "smtp_default",
            {"conn_type": "smtp", "login": "conn-user", "password": "conn-pw"},
            session=session,
        )
    with smtp_sink(user="conn-user", password="conn-pw") as sink:
        monkeypatch.setenv("AEROVANE__SMTP__SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("AEROVANE__SMTP__SMTP_PORT", str(sink.port))
        monkeypatch.setenv("AEROVANE__SMTP__SMTP_STARTTLS", "False")
        monkeypatch.setenv("AEROVANE__SMTP__SMTP_USER", "config-user")  # the connection wins
        monkeypatch.setenv("AEROVANE__SMTP__SMTP_PASSWORD", "config-pw")
        reload_settings()
        send_email("ops@example.com", "hello", "<p>hi</p>")
    reload_settings()
    assert sink.logins == ["conn-user"]
    assert len(sink.messages) == 1


def test_a_mapped_task_misses_once_per_run_when_any_index_is_late(db: Path) -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with DAG("sla_mapped", schedule=None, start_date=start) as d:
        BashOperator.partial(task_id="each", sla=SLA).expand(bash_command=["a", "b", "c"])
    with create_session() as session:
        store_parse_result("/dags/sla_mapped.py", [serialize_dag(d)], None, session=session)
    with create_session() as session:
        rid = trigger_dag_run("sla_mapped", logical_date=LOGICAL, session=session).run_id
    TI = models.TaskInstance
    on_time = DEADLINE - dt.timedelta(minutes=1)
    with create_session() as session:  # expanded as the scheduler does: -1 becomes index 0
        session.execute(
            update(TI)
            .where(TI.run_id == rid, TI.task_id == "each")
            .values(map_index=0, state="success", end_date=on_time)
        )
        for index in (1, 2):
            session.add(
                TI(
                    dag_id="sla_mapped",
                    task_id="each",
                    run_id=rid,
                    map_index=index,
                    state="success",
                    end_date=on_time,
                    hostname="",
                    unixname="",
                )
            )

    def record(now: dt.datetime) -> int:
        with create_session() as session:
            return record_sla_misses(
                dag_id="sla_mapped",
                fileloc="/dags/sla_mapped.py",
                slas={"each": SLA},
                notify=False,
                now=now,
                window=dt.timedelta(days=3650),
                session=session,
            )

    assert record(DEADLINE + dt.timedelta(hours=1)) == 0  # every index finished in time
    with create_session() as session:
        session.execute(
            update(TI)
            .where(TI.run_id == rid, TI.map_index.in_([1, 2]))
            .values(state="running", end_date=None)
        )
    assert record(DEADLINE + dt.timedelta(hours=2)) == 1  # two late indexes, one miss
    assert record(DEADLINE + dt.timedelta(hours=3)) == 0
    with create_session(readonly=True) as session:
        misses = session.scalars(
            select(models.SlaMiss).where(models.SlaMiss.dag_id == "sla_mapped")
        ).all()
        assert [(m.task_id, m.execution_date) for m in misses] == [("each", LOGICAL)]
