"""BranchDayOfWeekOperator, BranchDateTimeOperator, LatestOnlyOperator and WeekDay."""

from __future__ import annotations

import datetime as dt

import pytest

from aerovane.authoring import (
    DAG,
    BaseBranchOperator,
    BranchDateTimeOperator,
    BranchDayOfWeekOperator,
    EmptyOperator,
    LatestOnlyOperator,
    WeekDay,
)
from aerovane.authoring.exceptions import AerovaneException
from aerovane.authoring.operators import datetime_branch, latest_only, weekday
from tests.authoring.helpers import FakeDagRun, FakeTI, run_task

UTC = dt.UTC
TUESDAY = dt.datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)  # helpers.LOGICAL is a Tuesday


def test_weekday_names_and_errors() -> None:
    assert WeekDay.get_weekday_number("monday") == 1
    assert WeekDay.validate_week_day("Sunday") == {7}
    assert WeekDay.validate_week_day([WeekDay.SATURDAY, "sunday"]) == {6, 7}
    assert WeekDay.validate_week_day({WeekDay.MONDAY: 1}) == {1}
    with pytest.raises(AttributeError, match='Invalid Week Day passed: "Funday"'):
        WeekDay.get_weekday_number("Funday")
    with pytest.raises(TypeError, match="Unsupported Type"):
        WeekDay.validate_week_day(3)  # type: ignore[arg-type]


def _branch_dag(dag_id: str, make: type, **kwargs: object) -> tuple[object, FakeTI]:
    with DAG(dag_id, schedule=None):
        op = make(
            task_id="branch",
            follow_task_ids_if_true="yes",
            follow_task_ids_if_false=["no"],
            **kwargs,
        )
        op >> [EmptyOperator(task_id="yes"), EmptyOperator(task_id="no")]
    return op, FakeTI()


@pytest.mark.parametrize(
    ("days", "skipped"),
    [("tuesday", {"no"}), (WeekDay.WEDNESDAY, {"yes"}), (["Monday", WeekDay.TUESDAY], {"no"})],
)
def test_day_of_week_uses_the_logical_date(days: object, skipped: set[str]) -> None:
    op, ti = _branch_dag("dow", BranchDayOfWeekOperator, week_day=days, use_task_logical_date=True)
    run_task(op, ti)  # type: ignore[arg-type]
    assert ti.skipped_ids == skipped


def test_day_of_week_uses_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weekday, "utcnow", lambda: dt.datetime(2024, 3, 9, 12, tzinfo=UTC))
    op, ti = _branch_dag("dow_now", BranchDayOfWeekOperator, week_day="saturday")
    run_task(op, ti)  # type: ignore[arg-type]
    assert ti.skipped_ids == {"no"}
    op, ti = _branch_dag("dow_now2", BranchDayOfWeekOperator, week_day="friday")
    run_task(op, ti)  # type: ignore[arg-type]
    assert ti.skipped_ids == {"yes"}


def test_day_of_week_rejects_a_bad_day() -> None:
    with pytest.raises(AttributeError, match="Invalid Week Day"), DAG("bad_dow", schedule=None):
        BranchDayOfWeekOperator(
            task_id="b", follow_task_ids_if_true="x", follow_task_ids_if_false="y", week_day="x"
        )


@pytest.mark.parametrize(
    ("lower", "upper", "skipped"),
    [
        (dt.time(6), dt.time(7), {"no"}),
        (dt.time(7), dt.time(8), {"yes"}),
        # Over midnight the window is 22:00 that day → 06:30 the next, as in Airflow, so
        # 06:07 is outside it (before its start).
        (dt.time(22), dt.time(6, 30), {"yes"}),
        (None, dt.time(6), {"yes"}),
        (dt.datetime(2024, 3, 5, tzinfo=UTC), None, {"no"}),
        (dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 4), {"yes"}),  # naive: DAG zone (UTC)
    ],
)
def test_datetime_window_on_logical_date(lower: object, upper: object, skipped: set[str]) -> None:
    op, ti = _branch_dag(
        "dtb",
        BranchDateTimeOperator,
        target_lower=lower,
        target_upper=upper,
        use_task_logical_date=True,
    )
    run_task(op, ti)  # type: ignore[arg-type]
    assert ti.skipped_ids == skipped


def test_datetime_window_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datetime_branch, "utcnow", lambda: dt.datetime(2030, 1, 1, 23, tzinfo=UTC))
    op, ti = _branch_dag(
        "dtb_now", BranchDateTimeOperator, target_lower=dt.time(22), target_upper=dt.time(2)
    )
    run_task(op, ti)  # type: ignore[arg-type]
    assert ti.skipped_ids == {"no"}


def test_datetime_needs_a_bound() -> None:
    with pytest.raises(AerovaneException, match="Both target_upper and target_lower are None"):
        _branch_dag("dtb_bad", BranchDateTimeOperator, target_lower=None, target_upper=None)


def _latest_only_dag() -> tuple[LatestOnlyOperator, FakeTI]:
    with DAG("lo", schedule="@daily", start_date=dt.datetime(2024, 1, 1, tzinfo=UTC)):
        latest = LatestOnlyOperator(task_id="latest")
        latest >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
    return latest, FakeTI()


def _daily_run(start: dt.datetime, **kw: object) -> FakeDagRun:
    return FakeDagRun(
        logical_date=start,
        data_interval_start=start,
        data_interval_end=start + dt.timedelta(days=1),
        **kw,  # type: ignore[arg-type]
    )


def test_latest_only_skips_an_old_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latest_only, "utcnow", lambda: dt.datetime(2024, 3, 10, 12, tzinfo=UTC))
    op, ti = _latest_only_dag()
    run_task(op, ti, _daily_run(dt.datetime(2024, 3, 1, tzinfo=UTC)))
    assert ti.skipped_ids == {"a", "b"}


def test_latest_only_runs_the_latest_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latest_only, "utcnow", lambda: dt.datetime(2024, 3, 10, 12, tzinfo=UTC))
    op, ti = _latest_only_dag()
    # The run for 03-09 ends at 03-10 00:00; the next interval (03-10 → 03-11) contains now.
    assert sorted(run_task(op, ti, _daily_run(dt.datetime(2024, 3, 9, tzinfo=UTC)))) == ["a", "b"]
    assert ti.skipped_ids == set()


def test_latest_only_lets_external_runs_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latest_only, "utcnow", lambda: dt.datetime(2024, 3, 10, 12, tzinfo=UTC))
    op, ti = _latest_only_dag()
    run = _daily_run(dt.datetime(2024, 3, 1, tzinfo=UTC))
    run.external_trigger = True  # type: ignore[attr-defined]
    run_task(op, ti, run)
    assert ti.skipped_ids == set()


def test_base_branch_operator_subclass() -> None:
    class Pick(BaseBranchOperator):
        def choose_branch(self, context: object) -> str:
            return "b"

    with DAG("custom_branch", schedule=None):
        pick = Pick(task_id="pick")
        pick >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
    ti = FakeTI()
    run_task(pick, ti)
    assert ti.skipped_ids == {"a"}


def test_airflow_paths() -> None:
    from aerovane.compat import airflow_shim

    airflow_shim.install()
    from airflow.operators.branch import BaseBranchOperator as AirflowBase
    from airflow.operators.datetime import BranchDateTimeOperator as AirflowDateTime
    from airflow.operators.latest_only import LatestOnlyOperator as AirflowLatest
    from airflow.operators.weekday import BranchDayOfWeekOperator as AirflowWeekday
    from airflow.utils.weekday import WeekDay as AirflowWeekDay

    assert AirflowBase is BaseBranchOperator
    assert AirflowDateTime is BranchDateTimeOperator
    assert AirflowLatest is LatestOnlyOperator
    assert AirflowWeekday is BranchDayOfWeekOperator
    assert AirflowWeekDay is WeekDay


def test_latest_only_on_a_timedelta_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    # The context's dates are pendulum DateTimes; interval arithmetic on them stays aware.
    monkeypatch.setattr(latest_only, "utcnow", lambda: dt.datetime(2024, 3, 10, 12, tzinfo=UTC))
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    with DAG("lo_delta", schedule=dt.timedelta(hours=4), start_date=start):
        op = LatestOnlyOperator(task_id="latest")
        op >> EmptyOperator(task_id="a")
    interval = dt.timedelta(hours=4)
    latest_start = dt.datetime(2024, 3, 10, 4, tzinfo=UTC)  # next interval: 08:00 → 12:00
    run = FakeDagRun(
        logical_date=latest_start,
        data_interval_start=latest_start,
        data_interval_end=latest_start + interval,
    )
    ti = FakeTI()
    assert run_task(op, ti, run) == ["a"]
    old = dt.datetime(2024, 3, 9, tzinfo=UTC)
    ti = FakeTI()
    run_task(op, ti, FakeDagRun(logical_date=old, data_interval_start=old,
                                data_interval_end=old + interval))  # fmt: skip
    assert ti.skipped_ids == {"a"}
