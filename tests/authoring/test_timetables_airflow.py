"""Airflow 2.10's other timetables: CronTriggerTimetable, EventsTimetable, DatasetOrTimeSchedule,
and custom (plugin) timetables serialized by class path."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aerovane.authoring import DAG, Dataset, timetables
from aerovane.authoring.exceptions import AerovaneDagError
from aerovane.authoring.serialization import SerializedDAG, serialize_dag
from aerovane.authoring.timetables import (
    CronDataIntervalTimetable,
    CronTriggerTimetable,
    DagRunInfo,
    DataInterval,
    DatasetOrTimeSchedule,
    EventsTimetable,
    TimeRestriction,
    Timetable,
    timetable_from_dict,
    timetable_to_dict,
)

UTC = dt.UTC


def at(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> Any:
    def freeze(now: dt.datetime) -> None:
        monkeypatch.setattr(timetables, "utcnow", lambda: now)

    return freeze


def test_cron_trigger_runs_at_the_tick_with_an_interval_before_it() -> None:
    tt = CronTriggerTimetable("0 6 * * *", timezone="UTC", interval=dt.timedelta(hours=1))
    first = tt.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(at(1, 3), None, True)
    )
    assert first == DagRunInfo.interval(at(1, 5), at(1, 6))
    assert first.run_after == at(1, 6)
    second = tt.next_dagrun_info(
        last_automated_data_interval=first.data_interval,
        restriction=TimeRestriction(at(1, 3), None, True),
    )
    assert second == DagRunInfo.interval(at(2, 5), at(2, 6))
    assert tt.infer_manual_data_interval(run_after=at(3, 9)) == DataInterval(at(3, 8), at(3, 9))
    assert tt.summary == "0 6 * * *"


def test_cron_trigger_without_catchup_starts_at_the_latest_tick(frozen_now: Any) -> None:
    frozen_now(at(10, 7))
    tt = CronTriggerTimetable("0 6 * * *", timezone="UTC")
    info = tt.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(at(1), None, False)
    )
    assert info == DagRunInfo.interval(at(10, 6), at(10, 6))


def test_cron_trigger_reads_the_expression_in_its_timezone() -> None:
    tt = CronTriggerTimetable("0 9 * * *", timezone="Europe/Paris")
    info = tt.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(at(1), None, True)
    )
    assert info is not None and info.run_after == at(1, 8)  # 09:00 CET is 08:00 UTC


def test_cron_trigger_rejects_bad_arguments() -> None:
    with pytest.raises(AerovaneDagError, match="@once"):
        CronTriggerTimetable("@once", timezone="UTC")
    with pytest.raises(AerovaneDagError, match="Unknown timezone"):
        CronTriggerTimetable("0 0 * * *", timezone="Mars/Olympus")
    with pytest.raises(AerovaneDagError, match="Invalid cron"):
        CronTriggerTimetable("not cron", timezone="UTC")


def test_events_timetable_runs_at_each_event_once() -> None:
    events = [at(3, 12), at(1, 12), at(2, 12)]
    tt = EventsTimetable(event_dates=events)
    restriction = TimeRestriction(at(1), None, True)
    infos = []
    last = None
    while info := tt.next_dagrun_info(last_automated_data_interval=last, restriction=restriction):
        infos.append(info.run_after)
        last = info.data_interval
    assert infos == [at(1, 12), at(2, 12), at(3, 12)]
    assert tt.summary == "3 events"
    assert tt.infer_manual_data_interval(run_after=at(2, 15)) == DataInterval.exact(at(2, 15))
    restricted = EventsTimetable(event_dates=events, restrict_to_events=True, description="x")
    assert restricted.infer_manual_data_interval(run_after=at(2, 15)).start == at(2, 12)
    assert restricted.infer_manual_data_interval(run_after=at(1)).start == at(1, 12)
    assert restricted.summary == restricted.description == "x"


def test_events_timetable_without_catchup_skips_past_events(frozen_now: Any) -> None:
    frozen_now(at(2))
    tt = EventsTimetable(event_dates=[at(1, 12), at(2, 12)])
    info = tt.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(at(1), None, False)
    )
    assert info == DagRunInfo.exact(at(2, 12))


def test_dataset_or_time_schedule_delegates_time_and_keeps_the_condition() -> None:
    a, b = Dataset("s3://a"), Dataset("s3://b")
    tt = DatasetOrTimeSchedule(
        timetable=CronTriggerTimetable("@daily", timezone="UTC"), datasets=a | b
    )
    assert tt.condition.evaluate({"s3://b"})
    assert tt.summary == "Dataset or @daily"
    info = tt.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(at(1, 1), None, True)
    )
    assert info == DagRunInfo.interval(at(2), at(2))
    listed = DatasetOrTimeSchedule(timetable=CronDataIntervalTimetable("@daily"), datasets=[a, b])
    assert not listed.condition.evaluate({"s3://a"})
    with pytest.raises(AerovaneDagError, match="nested"):
        DatasetOrTimeSchedule(timetable=tt, datasets=[a])
    with pytest.raises(AerovaneDagError, match="datasets"):
        DatasetOrTimeSchedule(timetable=CronDataIntervalTimetable("@daily"), datasets=["s3://a"])


@pytest.mark.parametrize(
    "timetable",
    [
        CronTriggerTimetable("*/5 * * * *", timezone="Asia/Tokyo", interval=dt.timedelta(hours=2)),
        EventsTimetable([at(2), at(1)], restrict_to_events=True, description="two"),
        DatasetOrTimeSchedule(
            timetable=CronTriggerTimetable("@hourly", timezone="UTC"),
            datasets=Dataset("a") & (Dataset("b") | Dataset("c")),
        ),
    ],
)
def test_round_trip_through_json(timetable: Timetable) -> None:
    rebuilt = timetable_from_dict(timetable_to_dict(timetable))
    assert rebuilt == timetable
    assert type(rebuilt) is type(timetable)
    assert rebuilt.summary == timetable.summary


def test_a_dag_on_dataset_or_time_serializes_both() -> None:
    with DAG(
        "both",
        start_date=at(1),
        schedule=DatasetOrTimeSchedule(
            timetable=CronTriggerTimetable("0 1 * * *", timezone="UTC"), datasets=[Dataset("x")]
        ),
    ) as dag:
        pass
    data = serialize_dag(dag)
    assert data["schedule_interval"] is None  # as CronTriggerTimetable's own
    assert data["dataset_expression"] == "x"
    restored = SerializedDAG(data)
    assert isinstance(restored.timetable, DatasetOrTimeSchedule)
    assert restored.timetable.condition.evaluate({"x"})


class Weekdays(Timetable):
    """A user's timetable as Airflow documents them: no type name, its own (de)serialize."""

    def __init__(self, hour: int = 0) -> None:
        self.hour = hour

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):  # type: ignore[no-untyped-def]
        return None

    def infer_manual_data_interval(self, *, run_after):  # type: ignore[no-untyped-def]
        return DataInterval.exact(run_after)

    def serialize(self) -> dict[str, Any]:
        return {"hour": self.hour}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        return cls(data["hour"])


def test_a_custom_timetable_is_serialized_by_class_path() -> None:
    tt = Weekdays(7)
    assert tt.summary == "Weekdays"
    data = timetable_to_dict(tt)
    assert data == {
        "__type": "custom",
        "class": f"{__name__}.Weekdays",
        "data": {"hour": 7},
    }
    # Only timetables a plugin registered are rebuilt: a DAG cannot name arbitrary classes.
    with pytest.raises(ValueError, match="not registered by a plugin"):
        timetable_from_dict(data)
