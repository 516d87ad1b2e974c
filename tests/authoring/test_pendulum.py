"""pendulum in DAG files: start dates, timezones (cron in the DAG's zone), context values as
pendulum DateTimes, Airflow's `timezone`, `dates.days_ago` and `macros`."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pendulum
import pytest

from aerovane.authoring import DAG, BashOperator, EmptyOperator, dates, macros, timezone
from aerovane.authoring.serialization import SerializedDAG, serialize_dag
from aerovane.authoring.timetables import TimeRestriction

from .helpers import FakeDagRun, FakeTI, make_context, run_task

UTC = dt.UTC


def test_pendulum_start_date_and_duration() -> None:
    with DAG(
        "pdl",
        schedule=pendulum.duration(hours=6),
        start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
        dagrun_timeout=pendulum.duration(minutes=60),
    ) as dag:
        EmptyOperator(task_id="t")
    assert dag.start_date == dt.datetime(2021, 1, 1, tzinfo=UTC)
    assert dag.timezone.name == "UTC"
    data = serialize_dag(dag)
    assert data["timezone"] == "UTC"
    assert data["dagrun_timeout"] == 3600
    assert SerializedDAG.from_dict(data).timetable.summary == "6:00:00"


def test_cron_is_evaluated_in_the_start_dates_timezone() -> None:
    start = pendulum.datetime(2021, 1, 1, tz="Europe/Amsterdam")
    with DAG("ams", schedule="0 9 * * *", start_date=start, catchup=True) as dag:
        EmptyOperator(task_id="t")
    assert dag.timezone.name == "Europe/Amsterdam"
    assert dag.start_date == dt.datetime(2020, 12, 31, 23, tzinfo=UTC)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    first = dag.timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction
    )
    assert first is not None
    # 09:00 in Amsterdam is 08:00 UTC in winter ...
    assert first.data_interval.start == dt.datetime(2021, 1, 1, 8, tzinfo=UTC)
    assert first.data_interval.end == dt.datetime(2021, 1, 2, 8, tzinfo=UTC)
    # ... and 07:00 UTC in summer; the scheduler's copy (serialized) agrees.
    copy = SerializedDAG.from_dict(serialize_dag(dag))
    assert copy.timezone == "Europe/Amsterdam"
    summer = copy.timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval._replace(
            start=dt.datetime(2021, 6, 30, 7, tzinfo=UTC),
            end=dt.datetime(2021, 7, 1, 7, tzinfo=UTC),
        ),
        restriction=restriction,
    )
    assert summer is not None
    assert summer.data_interval.end == dt.datetime(2021, 7, 2, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tzinfo", "name"),
    [
        (zoneinfo.ZoneInfo("America/New_York"), "America/New_York"),
        (pendulum.timezone("Europe/Amsterdam"), "Europe/Amsterdam"),
        (dt.timezone(dt.timedelta(hours=2)), "+02:00"),
        (UTC, "UTC"),
        (None, "UTC"),
    ],
)
def test_timezone_comes_from_any_kind_of_tzinfo(tzinfo: dt.tzinfo | None, name: str) -> None:
    dag = DAG("tz", schedule="@daily", start_date=dt.datetime(2021, 1, 1, tzinfo=tzinfo))
    assert serialize_dag(dag)["timezone"] == name
    assert dag.timetable.serialize().get("timezone", "UTC") == name


def test_unknown_serialized_timezone_is_a_clear_error() -> None:
    from aerovane.authoring.exceptions import AerovaneDagError
    from aerovane.authoring.timetables import timetable_from_dict

    with pytest.raises(AerovaneDagError, match="Unknown timezone 'Mars/Olympus'"):
        timetable_from_dict({"__type": "cron", "expression": "@daily", "timezone": "Mars/Olympus"})


def test_context_dates_are_pendulum_and_templates_use_their_methods() -> None:
    with DAG("ctx", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1)) as dag:
        task = BashOperator(
            task_id="t",
            bash_command=(
                "{{ logical_date.add(days=1).format('YYYY-MM-DD') }} "
                "{{ data_interval_start.subtract(hours=1).to_iso8601_string() }} "
                "{{ macros.ds_add(ds, -1) }} {{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m') }} "
                "{{ prev_ds }} {{ next_ds }} {{ yesterday_ds_nodash }} {{ tomorrow_ds }}"
            ),
        )
    run = FakeDagRun(
        run_id="scheduled__2024-03-05T00:00:00+00:00",
        logical_date=dt.datetime(2024, 3, 5, tzinfo=UTC),
        data_interval_start=dt.datetime(2024, 3, 5, tzinfo=UTC),
        data_interval_end=dt.datetime(2024, 3, 6, tzinfo=UTC),
        run_type="scheduled",
    )
    context = make_context(dag, task, dag_run=run)
    for key in ("logical_date", "execution_date", "data_interval_start", "data_interval_end"):
        assert isinstance(context[key], pendulum.DateTime), key
    assert context["prev_execution_date"] == pendulum.datetime(2024, 3, 4)
    assert context["next_execution_date"] == pendulum.datetime(2024, 3, 6)
    task.render_template_fields(context)
    assert task.bash_command == (
        "2024-03-06 2024-03-04T23:00:00Z 2024-03-04 05/03 2024-03-04 2024-03-06 20240304 2024-03-06"
    )


def test_manual_run_neighbours_are_its_own_date_and_prev_success_values() -> None:
    with DAG("ctx2", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1)) as dag:
        task = EmptyOperator(task_id="t")
    run = FakeDagRun()
    run.external_trigger = True  # type: ignore[attr-defined]
    previous = FakeDagRun(
        logical_date=dt.datetime(2024, 3, 1, tzinfo=UTC),
        data_interval_start=dt.datetime(2024, 2, 29, tzinfo=UTC),
        data_interval_end=dt.datetime(2024, 3, 1, tzinfo=UTC),
    )
    previous.start_date = dt.datetime(2024, 3, 1, 0, 5)  # type: ignore[attr-defined]
    previous.end_date = dt.datetime(2024, 3, 1, 0, 9, tzinfo=UTC)  # type: ignore[attr-defined]
    from aerovane.authoring.context import build_context

    context = build_context(dag=dag, task=task, ti=FakeTI(), dag_run=run, previous_success=previous)
    assert context["prev_execution_date"] == context["next_execution_date"] == run.logical_date
    assert context["prev_start_date_success"] == pendulum.datetime(2024, 3, 1, 0, 5)
    assert isinstance(context["prev_start_date_success"], pendulum.DateTime)
    assert context["prev_end_date_success"] == pendulum.datetime(2024, 3, 1, 0, 9)
    assert context["prev_data_interval_start_success"] == pendulum.datetime(2024, 2, 29)
    assert context["prev_data_interval_end_success"] == pendulum.datetime(2024, 3, 1)
    assert context["prev_execution_date_success"] == pendulum.datetime(2024, 3, 1)
    first = make_context(dag, task, dag_run=run)
    assert first["prev_start_date_success"] is None
    assert first["prev_data_interval_start_success"] is None


def test_unscheduled_dag_has_no_neighbour_dates() -> None:
    with DAG("none", schedule=None) as dag:
        task = EmptyOperator(task_id="t")
    context = make_context(dag, task)
    assert context["prev_execution_date"] is None
    assert context["next_ds"] is None


def test_days_ago_is_pendulum_midnight_utc() -> None:
    value = dates.days_ago(2)
    assert isinstance(value, pendulum.DateTime)
    assert value.timezone_name == "UTC"
    assert (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)
    assert (pendulum.now("UTC").date() - value.date()).days == 2


def test_airflow_timezone_helpers() -> None:
    assert isinstance(timezone.utcnow(), pendulum.DateTime)
    assert timezone.datetime(2021, 1, 1).tzinfo is timezone.utc
    naive = dt.datetime(2021, 6, 1, 12)
    ams = pendulum.timezone("Europe/Amsterdam")
    aware = timezone.make_aware(naive, ams)
    assert aware.utcoffset() == dt.timedelta(hours=2)
    assert timezone.convert_to_utc(aware) == pendulum.datetime(2021, 6, 1, 10)
    assert timezone.convert_to_utc(naive) == pendulum.datetime(2021, 6, 1, 12)
    assert timezone.make_naive(aware, ams) == naive
    assert timezone.make_naive(aware) == dt.datetime(2021, 6, 1, 10)
    with pytest.raises(ValueError, match="naive"):
        timezone.make_aware(aware)
    with pytest.raises(ValueError, match="naive"):
        timezone.make_naive(naive)
    assert timezone.parse("2021-01-01 05:00") == pendulum.datetime(2021, 1, 1, 5)
    assert timezone.parse("2021-01-01T05:00+01:00") == pendulum.datetime(2021, 1, 1, 4)
    assert timezone.is_localized(aware) and timezone.is_naive(naive)
    assert isinstance(timezone.coerce_datetime(naive), pendulum.DateTime)
    assert timezone.coerce_datetime(None) is None


def test_macros_as_airflow_exposes_them() -> None:
    assert macros.ds_add("2015-01-01", 5) == "2015-01-06"
    assert macros.ds_add("2015-01-06", -5) == "2015-01-01"
    assert macros.ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y") == "01-01-15"
    assert 0 <= macros.random() < 1
    assert macros.dateutil.relativedelta.relativedelta(months=1).months == 1
    assert macros.datetime is dt.datetime and macros.timedelta is dt.timedelta
    assert macros.uuid.UUID(int=1) and macros.json.dumps([1]) == "[1]" and macros.time.time()
    ago = macros.datetime_diff_for_humans(
        pendulum.datetime(2021, 1, 1), pendulum.datetime(2021, 1, 1, 2)
    )
    assert ago == "2 hours before"


def test_template_uses_dateutil_and_pendulum_from_dag_file() -> None:
    with DAG("tmpl", schedule=None, start_date=pendulum.datetime(2021, 1, 1)) as dag:
        task = BashOperator(
            task_id="t",
            bash_command=(
                "echo {{ (logical_date + macros.dateutil.relativedelta.relativedelta(months=1))"
                ".strftime('%Y-%m') }}"
            ),
        )
    assert dag.timezone.name == "UTC"
    assert run_task(task) == "2024-04"  # the rendered command runs in a real shell


def test_cron_trigger_timetable_runs_at_ticks_in_its_timezone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aerovane.authoring import timetables
    from aerovane.authoring.timetables import CronTriggerTimetable, timetable_from_dict

    tt = CronTriggerTimetable(
        "0 1 * * 3", timezone="Europe/Amsterdam", interval=dt.timedelta(hours=1)
    )
    restriction = TimeRestriction(
        earliest=dt.datetime(2024, 1, 1, tzinfo=UTC), latest=None, catchup=True
    )
    first = tt.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first is not None
    # Wednesday 3 Jan 2024, 01:00 in Amsterdam = 00:00 UTC; the run starts at the tick.
    assert first.run_after == dt.datetime(2024, 1, 3, tzinfo=UTC)
    assert first.data_interval.start == dt.datetime(2024, 1, 2, 23, tzinfo=UTC)
    second = tt.next_dagrun_info(
        last_automated_data_interval=first.data_interval, restriction=restriction
    )
    assert second is not None and second.run_after == dt.datetime(2024, 1, 10, tzinfo=UTC)
    monkeypatch.setattr(timetables, "utcnow", lambda: dt.datetime(2024, 7, 5, tzinfo=UTC))
    latest = tt.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction._replace(catchup=False)
    )
    # Without catchup: the latest tick that has passed (summer time: 23:00 UTC on Tuesday).
    assert latest is not None and latest.run_after == dt.datetime(2024, 7, 2, 23, tzinfo=UTC)
    copy = timetable_from_dict(tt.serialize())
    assert copy == tt and copy.summary == "0 1 * * 3"
    manual = copy.infer_manual_data_interval(run_after=dt.datetime(2024, 2, 1, 12, tzinfo=UTC))
    assert manual.start == dt.datetime(2024, 2, 1, 11, tzinfo=UTC)


def test_airflow_timetable_imports_in_a_dag_file(tmp_path: object) -> None:
    import subprocess
    import sys
    import textwrap

    source = textwrap.dedent(
        """
        import pendulum
        from aerovane.compat import airflow_shim
        airflow_shim.install()
        from airflow import DAG
        from airflow.timetables.trigger import CronTriggerTimetable
        from airflow.timetables.interval import CronDataIntervalTimetable
        from airflow.utils.edgemodifier import Label
        from airflow.utils.task_group import TaskGroup
        from airflow.utils.timezone import utcnow, make_aware
        from airflow.decorators import setup, teardown, task_group
        from airflow.models.xcom_arg import XComArg
        from aerovane.authoring.serialization import serialize_dag
        with DAG("t", schedule=CronTriggerTimetable("0 9 * * *", timezone="UTC"),
                 start_date=pendulum.datetime(2024, 1, 1)) as dag:
            pass
        print(serialize_dag(dag)["timetable"]["__type"], utcnow().timezone_name)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "cron_trigger UTC"
