"""Timetables: Airflow 2 scheduling semantics, manual intervals and serialization."""

from __future__ import annotations

import datetime as dt

import pytest

from aerovane.authoring import timetables
from aerovane.authoring.exceptions import AerovaneDagError
from aerovane.authoring.timetables import (
    ContinuousTimetable,
    CronDataIntervalTimetable,
    DagRunInfo,
    DataInterval,
    DeltaDataIntervalTimetable,
    NullTimetable,
    OnceTimetable,
    TimeRestriction,
    timetable_from_dict,
    timetable_from_schedule,
)

UTC = dt.UTC


def at(day: int, hour: int = 0, minute: int = 0, month: int = 1) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def freeze(now: dt.datetime) -> None:
        monkeypatch.setattr(timetables, "utcnow", lambda: now)

    return freeze


@pytest.mark.parametrize(
    ("preset", "cron"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@quarterly", "0 0 1 */3 *"),
        ("@yearly", "0 0 1 1 *"),
    ],
)
def test_cron_presets(preset: str, cron: str) -> None:
    timetable = CronDataIntervalTimetable(preset)
    assert timetable.summary == cron
    assert timetable.schedule_interval_json() == {"__type": "CronExpression", "value": preset}
    assert timetable.description


def test_summaries_and_schedule_interval_json() -> None:
    assert NullTimetable().summary == "None" and NullTimetable().schedule_interval_json() is None
    assert OnceTimetable().summary == "@once"
    assert OnceTimetable().schedule_interval_json() == {
        "__type": "CronExpression",
        "value": "@once",
    }
    delta = DeltaDataIntervalTimetable(dt.timedelta(days=1))
    assert delta.summary == "1 day, 0:00:00"
    assert delta.schedule_interval_json() == {
        "__type": "TimeDelta",
        "days": 1,
        "seconds": 0,
        "microseconds": 0,
    }
    cron = CronDataIntervalTimetable("*/15 9-17 * * 1-5")
    assert cron.summary == "*/15 9-17 * * 1-5"
    assert cron.description == "Every 15 minutes, between 09:00 and 17:59, Monday through Friday"


def test_cron_catchup_first_run_is_the_first_full_interval_after_start() -> None:
    timetable = CronDataIntervalTimetable("@daily")
    restriction = TimeRestriction(earliest=at(1, 6), latest=None, catchup=True)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first == DagRunInfo.interval(at(2), at(3))
    assert first is not None and first.run_after == at(3) and first.logical_date == at(2)
    aligned = TimeRestriction(earliest=at(1), latest=None, catchup=True)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=aligned)
    assert first is not None and first.data_interval == DataInterval(at(1), at(2))
    second = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval, restriction=aligned
    )
    assert second is not None and second.data_interval == DataInterval(at(2), at(3))


def test_cron_without_catchup_starts_at_the_latest_complete_interval(frozen_now) -> None:  # type: ignore[no-untyped-def]
    frozen_now(at(10, 15, 30))
    timetable = CronDataIntervalTimetable("@daily")
    restriction = TimeRestriction(earliest=at(1), latest=None, catchup=False)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info is not None and info.data_interval == DataInterval(at(9), at(10))
    # An old last run is not caught up either.
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(at(2), at(3)), restriction=restriction
    )
    assert info is not None and info.data_interval == DataInterval(at(9), at(10))
    # Exactly on a boundary: the interval ending now is complete.
    frozen_now(at(10))
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info is not None and info.data_interval == DataInterval(at(9), at(10))
    # A start date in the future wins.
    future = TimeRestriction(earliest=at(20, 3), latest=None, catchup=False)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=future)
    assert info is not None and info.data_interval == DataInterval(at(21), at(22))


def test_cron_respects_latest_and_missing_start() -> None:
    timetable = CronDataIntervalTimetable("@daily")
    restriction = TimeRestriction(earliest=at(1), latest=at(2), catchup=True)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(at(1), at(2)), restriction=restriction
    )
    assert info is not None and info.data_interval.start == at(2)
    assert (
        timetable.next_dagrun_info(
            last_automated_data_interval=DataInterval(at(2), at(3)), restriction=restriction
        )
        is None
    )
    no_start = TimeRestriction(earliest=None, latest=None, catchup=True)
    assert (
        timetable.next_dagrun_info(last_automated_data_interval=None, restriction=no_start) is None
    )


def test_naive_datetimes_from_the_database_are_treated_as_utc() -> None:
    timetable = CronDataIntervalTimetable("@hourly")
    restriction = TimeRestriction(earliest=dt.datetime(2024, 1, 1), latest=None, catchup=True)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(
            dt.datetime(2024, 1, 1, 1), dt.datetime(2024, 1, 1, 2)
        ),
        restriction=restriction,
    )
    assert info is not None and info.data_interval == DataInterval(at(1, 2), at(1, 3))


def test_cron_infer_manual_data_interval() -> None:
    timetable = CronDataIntervalTimetable("@daily")
    assert timetable.infer_manual_data_interval(run_after=at(25, 1)) == DataInterval(at(24), at(25))
    assert timetable.infer_manual_data_interval(run_after=at(25)) == DataInterval(at(24), at(25))


def test_delta_timetable(frozen_now) -> None:  # type: ignore[no-untyped-def]
    timetable = DeltaDataIntervalTimetable(dt.timedelta(hours=6))
    restriction = TimeRestriction(earliest=at(1, 1), latest=None, catchup=True)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first == DagRunInfo.interval(at(1, 1), at(1, 7))
    second = timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval if first else None,
        restriction=restriction,
    )
    assert second is not None and second.data_interval == DataInterval(at(1, 7), at(1, 13))
    frozen_now(at(5, 12))
    no_catchup = TimeRestriction(earliest=at(1, 1), latest=None, catchup=False)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=no_catchup)
    assert info is not None and info.data_interval == DataInterval(at(5, 6), at(5, 12))
    assert timetable.infer_manual_data_interval(run_after=at(3, 9)) == DataInterval(
        at(3, 3), at(3, 9)
    )
    with pytest.raises(AerovaneDagError, match="must be positive"):
        DeltaDataIntervalTimetable(dt.timedelta(0))


def test_null_timetable_never_schedules() -> None:
    timetable = NullTimetable()
    restriction = TimeRestriction(earliest=at(1), latest=None, catchup=True)
    assert (
        timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        is None
    )
    assert timetable.infer_manual_data_interval(run_after=at(3, 4)) == DataInterval(
        at(3, 4), at(3, 4)
    )
    assert not timetable.can_be_scheduled


def test_once_timetable_runs_once_at_the_start_date() -> None:
    timetable = OnceTimetable()
    restriction = TimeRestriction(earliest=at(1, 5), latest=None, catchup=False)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info == DagRunInfo.exact(at(1, 5))
    assert (
        timetable.next_dagrun_info(
            last_automated_data_interval=DataInterval(at(1, 5), at(1, 5)), restriction=restriction
        )
        is None
    )
    no_start = TimeRestriction(earliest=None, latest=None, catchup=True)
    assert (
        timetable.next_dagrun_info(last_automated_data_interval=None, restriction=no_start) is None
    )
    assert timetable.infer_manual_data_interval(run_after=at(2)) == DataInterval(at(2), at(2))


def test_continuous_timetable(frozen_now) -> None:  # type: ignore[no-untyped-def]
    frozen_now(at(5))
    timetable = ContinuousTimetable()
    restriction = TimeRestriction(earliest=at(1), latest=None, catchup=False)
    first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first == DagRunInfo.interval(at(1), at(5))
    frozen_now(at(6))
    nxt = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(at(1), at(5)), restriction=restriction
    )
    assert nxt == DagRunInfo.interval(at(5), at(6))


@pytest.mark.parametrize(
    "timetable",
    [
        NullTimetable(),
        OnceTimetable(),
        ContinuousTimetable(),
        CronDataIntervalTimetable("@weekly"),
        CronDataIntervalTimetable("5 4 * * *"),
        DeltaDataIntervalTimetable(dt.timedelta(days=2, seconds=5, microseconds=7)),
    ],
)
def test_serialization_round_trip(timetable: timetables.Timetable) -> None:
    restored = timetable_from_dict(timetable.serialize())
    assert type(restored) is type(timetable)
    assert restored == timetable and restored.summary == timetable.summary
    assert restored.schedule_interval_json() == timetable.schedule_interval_json()


def test_schedule_conversion_and_errors() -> None:
    assert isinstance(timetable_from_schedule(None), NullTimetable)
    assert isinstance(timetable_from_schedule("@once"), OnceTimetable)
    assert isinstance(timetable_from_schedule(dt.timedelta(hours=1)), DeltaDataIntervalTimetable)
    with pytest.raises(AerovaneDagError, match="Invalid cron expression 'every day'"):
        timetable_from_schedule("every day")
    with pytest.raises(AerovaneDagError, match="must contain only Dataset objects"):
        timetable_from_schedule(["dataset"])
    with pytest.raises(ValueError, match="Unknown serialized timetable type"):
        timetable_from_dict({"__type": "nope"})
