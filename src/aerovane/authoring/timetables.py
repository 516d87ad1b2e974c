"""Timetables: when a DAG gets scheduled runs and which data interval each run covers.

Pure functions of their inputs (plus the clock, for catchup=False), usable on deserialized DAGs
by the scheduler. Semantics follow Airflow 2: a run for the interval [start, end) is created at
`run_after = end`; with catchup=False the first run is for the latest *complete* interval.
All datetimes are aware UTC. croniter is imported only when a cron timetable is built.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any, ClassVar, NamedTuple

from aerovane.authoring._time import as_utc, utcnow
from aerovane.authoring.exceptions import AerovaneDagError

__all__ = [
    "CRON_PRESETS",
    "ContinuousTimetable",
    "CronDataIntervalTimetable",
    "CronTriggerTimetable",
    "DagRunInfo",
    "DataInterval",
    "DatasetOrTimeSchedule",
    "DatasetTriggeredTimetable",
    "DeltaDataIntervalTimetable",
    "EventsTimetable",
    "NullTimetable",
    "OnceTimetable",
    "TimeRestriction",
    "Timetable",
    "time_restriction",
    "timetable_from_dict",
    "timetable_from_schedule",
    "timetable_to_dict",
]

CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@midnight": "0 0 * * *",
}


def describe_cron(expression: str) -> str:
    """Airflow's human text for a cron expression ("At 00:00"), from `cron_descriptor` as
    Airflow's `CronMixin` does; "" for what it cannot describe (and, like Airflow, for
    expressions with more than five fields, which croniter reads differently)."""
    from cron_descriptor import (
        CasingTypeEnum,
        ExpressionDescriptor,
        FormatException,
        MissingFieldException,
    )

    if len(expression.split()) > 5:
        return ""
    try:
        descriptor = ExpressionDescriptor(
            expression=expression,
            casing_type=CasingTypeEnum.Sentence,
            use_24hour_time_format=True,
        )
        return str(descriptor.get_description())
    except (FormatException, MissingFieldException):
        return ""


class DataInterval(NamedTuple):
    """The period of data a run processes: [start, end)."""

    start: datetime
    end: datetime

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        return cls(at, at)


class DagRunInfo(NamedTuple):
    """What the scheduler needs to create a run: when it may start and which interval it covers."""

    run_after: datetime
    data_interval: DataInterval

    @classmethod
    def exact(cls, at: datetime) -> DagRunInfo:
        return cls(run_after=at, data_interval=DataInterval.exact(at))

    @classmethod
    def interval(cls, start: datetime, end: datetime) -> DagRunInfo:
        return cls(run_after=end, data_interval=DataInterval(start, end))

    @property
    def logical_date(self) -> datetime:
        return self.data_interval.start


class TimeRestriction(NamedTuple):
    """Bounds on scheduling: earliest/latest data-interval start, and whether to catch up."""

    earliest: datetime | None
    latest: datetime | None
    catchup: bool


def time_restriction(
    *,
    start_date: datetime | None,
    end_date: datetime | None,
    catchup: bool,
    task_start_dates: Iterable[datetime | None] = (),
    task_end_dates: Iterable[datetime | None] = (),
    task_count: int = 0,
) -> TimeRestriction:
    """Airflow's DAG time restriction: earliest of DAG/task start dates; latest end date only
    when every task has one (one open-ended task keeps the DAG open)."""
    starts = [d for d in task_start_dates if d is not None]
    if start_date is not None:
        starts.append(start_date)
    earliest = min(starts) if starts else None
    latest = end_date
    ends = [d for d in task_end_dates if d is not None]
    if task_count and len(ends) == task_count:
        if end_date is not None:
            ends.append(end_date)
        latest = max(ends)
    return TimeRestriction(earliest, latest, catchup)


def _aware_restriction(restriction: TimeRestriction) -> TimeRestriction:
    """`restriction` with aware UTC bounds (database rows may hand back naive datetimes)."""
    earliest, latest, catchup = restriction
    return TimeRestriction(
        None if earliest is None else as_utc(earliest),
        None if latest is None else as_utc(latest),
        catchup,
    )


def _aware_interval(interval: DataInterval | None) -> DataInterval | None:
    if interval is None:
        return None
    return DataInterval(as_utc(interval[0]), as_utc(interval[1]))


class Timetable(ABC):
    """Base class: decides the next automated run and the interval of manual runs.

    Built-in timetables have a `type_name`; a user's subclass (Airflow's custom timetables,
    registered by a plugin) has none and is serialized by class path with its `serialize()`
    data, rebuilt with its `deserialize()` classmethod, as Airflow does.
    """

    type_name: ClassVar[str] = ""
    periodic: ClassVar[bool] = True
    can_be_scheduled: ClassVar[bool] = True
    #: Largest `max_active_runs` this timetable tolerates (continuous needs exactly one).
    active_runs_limit: ClassVar[int | None] = None

    @property
    def summary(self) -> str:
        """Short human form, e.g. "0 0 * * *", "None", "@once", "1 day, 0:00:00"."""
        return type(self).__name__

    @property
    def description(self) -> str:
        return ""

    @abstractmethod
    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        """The next automated run after the last one (None: first run), or None for no more."""

    @abstractmethod
    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered manually at `run_after`."""

    def serialize(self) -> dict[str, Any]:
        return {"__type": self.type_name} if self.type_name else {}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> Timetable:
        """Rebuild from `serialize()` output (override with `serialize` in a custom timetable)."""
        return cls()

    def validate(self) -> None:  # noqa: B027 - optional hook, as in Airflow
        """Raise if the timetable cannot work (called when the DAG is validated)."""

    def schedule_interval_json(self) -> dict[str, Any] | None:
        """The REST API's `schedule_interval` value (CronExpression / TimeDelta / null)."""
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timetable):
            return NotImplemented
        return type(self) is type(other) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, repr(sorted(self.serialize().items()))))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"


class NullTimetable(Timetable):
    """`schedule=None`: never scheduled; only external (manual/API) triggers."""

    type_name = "null"
    periodic = False
    can_be_scheduled = False

    @property
    def summary(self) -> str:
        return "None"

    @property
    def description(self) -> str:
        return "Never, external triggers only"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        return None

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        return DataInterval.exact(as_utc(run_after))

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return None


class OnceTimetable(Timetable):
    """`"@once"`: a single run at the start date, whatever `catchup` says."""

    type_name = "once"
    periodic = False

    @property
    def summary(self) -> str:
        return "@once"

    @property
    def description(self) -> str:
        return "Once, as soon as possible"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None or restriction.earliest is None:
            return None
        restriction = _aware_restriction(restriction)
        run_after = restriction.earliest
        if restriction.latest is not None and run_after > restriction.latest:
            return None
        return DagRunInfo.exact(run_after)

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        return DataInterval.exact(as_utc(run_after))

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return {"__type": "CronExpression", "value": "@once"}


class ContinuousTimetable(Timetable):
    """`"@continuous"`: a new run as soon as the previous one ends (max_active_runs must be 1)."""

    type_name = "continuous"
    active_runs_limit = 1

    @property
    def summary(self) -> str:
        return "@continuous"

    @property
    def description(self) -> str:
        return "As frequently as possible, but only one run at a time."

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if restriction.earliest is None:
            return None
        restriction = _aware_restriction(restriction)
        last = _aware_interval(last_automated_data_interval)
        now = utcnow()
        if last is not None:
            start = last.end
            end = max(start, now)
        else:
            start = restriction.earliest
            end = max(restriction.earliest, now)
        if restriction.latest is not None and end > restriction.latest:
            return None
        return DagRunInfo.interval(start, end)

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        return DataInterval.exact(as_utc(run_after))

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return {"__type": "CronExpression", "value": "@continuous"}


class _DataIntervalTimetable(Timetable):
    """Shared logic of cron and delta schedules: consecutive back-to-back data intervals."""

    @abstractmethod
    def _get_next(self, current: datetime) -> datetime:
        """First boundary strictly after `current`."""

    @abstractmethod
    def _get_prev(self, current: datetime) -> datetime:
        """Last boundary strictly before `current`."""

    @abstractmethod
    def _align_to_next(self, current: datetime) -> datetime:
        """`current` if it is a boundary, else the next boundary."""

    @abstractmethod
    def _align_to_prev(self, current: datetime) -> datetime:
        """`current` if it is a boundary, else the previous boundary."""

    @abstractmethod
    def _skip_to_latest(self, earliest: datetime | None) -> datetime:
        """Start of the latest complete interval (catchup=False), not before `earliest`."""

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        restriction = _aware_restriction(restriction)
        last = _aware_interval(last_automated_data_interval)
        earliest = restriction.earliest
        if not restriction.catchup:
            earliest = self._skip_to_latest(earliest)
        elif earliest is not None:
            earliest = self._align_to_next(earliest)
        if last is None:
            if earliest is None:
                return None
            start = earliest
        else:
            # Realign: the schedule may have changed since the last run was created.
            start = self._align_to_prev(last.end)
            if earliest is not None:
                start = max(start, earliest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return DagRunInfo.interval(start, self._get_next(start))


class CronDataIntervalTimetable(_DataIntervalTimetable):
    """A cron expression or preset; each run covers the interval between two cron ticks."""

    type_name = "cron"

    def __init__(self, cron: str, timezone: str | tzinfo | None = None) -> None:
        from croniter import CroniterError, croniter

        if not isinstance(cron, str) or not cron.strip():
            raise AerovaneDagError(f"Invalid cron expression {cron!r}: must be a non-empty string")
        self._original = cron.strip()
        self._expression = CRON_PRESETS.get(self._original, self._original)
        try:
            croniter(self._expression)
        except (CroniterError, ValueError, KeyError) as err:
            raise AerovaneDagError(f"Invalid cron expression {cron!r}: {err}") from None
        self._croniter = croniter
        self._timezone = _timezone_or_none(timezone)

    @property
    def expression(self) -> str:
        return self._original

    @property
    def timezone(self) -> str:
        """The IANA name (or offset) the cron expression is evaluated in; "UTC" by default."""
        from aerovane.authoring.timezone import timezone_name

        return "UTC" if self._timezone is None else timezone_name(self._timezone)

    @property
    def summary(self) -> str:
        return self._expression

    @property
    def description(self) -> str:
        return describe_cron(self._expression)

    def _get_next(self, current: datetime) -> datetime:
        if self._timezone is None:
            return as_utc(self._croniter(self._expression, as_utc(current)).get_next(datetime))
        return self._local_tick(current, "get_next")

    def _get_prev(self, current: datetime) -> datetime:
        if self._timezone is None:
            return as_utc(self._croniter(self._expression, as_utc(current)).get_prev(datetime))
        return self._local_tick(current, "get_prev")

    def _local_tick(self, current: datetime, direction: str) -> datetime:
        # As Airflow: the cron fields are wall-clock time in the DAG's timezone, so "0 9 * * *"
        # in Europe/Amsterdam is 08:00 UTC in winter and 07:00 UTC in summer.
        from aerovane.authoring.timezone import make_aware, make_naive

        naive = make_naive(as_utc(current), self._timezone)
        tick = getattr(self._croniter(self._expression, naive), direction)(datetime)
        return as_utc(make_aware(tick, self._timezone))

    def _align_to_next(self, current: datetime) -> datetime:
        current = as_utc(current)
        next_time = self._get_next(current)
        return current if self._get_prev(next_time) == current else next_time

    def _align_to_prev(self, current: datetime) -> datetime:
        current = as_utc(current)
        prev_time = self._get_prev(current)
        return current if self._get_next(prev_time) == current else prev_time

    def _skip_to_latest(self, earliest: datetime | None) -> datetime:
        # If now is exactly a boundary the interval *starting* now is not complete, so take the
        # one ending now; otherwise take the one ending at the last boundary.
        now = utcnow()
        last_start = self._get_prev(now)
        next_start = self._get_next(last_start)
        new_start = last_start if next_start == now else self._get_prev(last_start)
        if earliest is None:
            return new_start
        return max(new_start, self._align_to_next(earliest))

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        end = self._align_to_prev(as_utc(run_after))
        return DataInterval(self._get_prev(end), end)

    def serialize(self) -> dict[str, Any]:
        data: dict[str, Any] = {"__type": self.type_name, "expression": self._original}
        if self._timezone is not None:
            data["timezone"] = self.timezone
        return data

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return {"__type": "CronExpression", "value": self._original}


class DeltaDataIntervalTimetable(_DataIntervalTimetable):
    """A fixed `timedelta` between runs, counted from the start date."""

    type_name = "delta"

    def __init__(self, delta: timedelta) -> None:
        if not isinstance(delta, timedelta):
            raise AerovaneDagError(f"schedule interval must be a timedelta, got {delta!r}")
        if delta <= timedelta(0):
            raise AerovaneDagError(f"schedule interval must be positive, not {delta!r}")
        self._delta = delta

    @property
    def delta(self) -> timedelta:
        return self._delta

    @property
    def summary(self) -> str:
        return str(self._delta)

    def _get_next(self, current: datetime) -> datetime:
        return as_utc(current) + self._delta

    def _get_prev(self, current: datetime) -> datetime:
        return as_utc(current) - self._delta

    def _align_to_next(self, current: datetime) -> datetime:
        return as_utc(current)

    def _align_to_prev(self, current: datetime) -> datetime:
        return as_utc(current)

    def _skip_to_latest(self, earliest: datetime | None) -> datetime:
        new_start = self._get_prev(utcnow())
        if earliest is None:
            return new_start
        return max(new_start, as_utc(earliest))

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        run_after = as_utc(run_after)
        return DataInterval(run_after - self._delta, run_after)

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": self.type_name,
            "days": self._delta.days,
            "seconds": self._delta.seconds,
            "microseconds": self._delta.microseconds,
        }

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return {
            "__type": "TimeDelta",
            "days": self._delta.days,
            "seconds": self._delta.seconds,
            "microseconds": self._delta.microseconds,
        }


class CronTriggerTimetable(Timetable):
    """Airflow's `CronTriggerTimetable`: a run at each cron tick (in `timezone`), like POSIX
    cron, covering `[tick - interval, tick]` (a zero-length interval by default)."""

    type_name = "cron_trigger"

    def __init__(
        self, cron: str, *, timezone: str | tzinfo, interval: timedelta = timedelta()
    ) -> None:
        if not isinstance(interval, timedelta):
            raise AerovaneDagError(f"interval must be a datetime.timedelta, got {interval!r}")
        self._cron = CronDataIntervalTimetable(cron, timezone)
        self._interval = interval

    @property
    def summary(self) -> str:
        return self._cron.expression

    @property
    def description(self) -> str:
        return self._cron.description

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        restriction = _aware_restriction(restriction)
        last = _aware_interval(last_automated_data_interval)
        cron = self._cron
        if restriction.catchup:
            if last is not None:
                tick = cron._get_next(last.end)
            elif restriction.earliest is None:
                return None
            else:
                tick = cron._align_to_next(restriction.earliest)
        else:
            candidates = [cron._align_to_prev(utcnow())]
            if last is not None:
                candidates.append(cron._get_next(last.end))
            if restriction.earliest is not None:
                candidates.append(cron._align_to_next(restriction.earliest))
            tick = max(candidates)
        if restriction.latest is not None and restriction.latest < tick:
            return None
        return DagRunInfo.interval(tick - self._interval, tick)

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        run_after = as_utc(run_after)
        return DataInterval(run_after - self._interval, run_after)

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": self.type_name,
            "expression": self._cron.expression,
            "timezone": self._cron.timezone,
            "interval": self._interval.total_seconds(),
        }

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return None


class EventsTimetable(Timetable):
    """Runs at listed datetimes only (Airflow's EventsTimetable); each run's interval is its
    instant. With `restrict_to_events`, a manual run takes the latest event not after it."""

    type_name = "events"

    def __init__(
        self,
        event_dates: Iterable[datetime],
        restrict_to_events: bool = False,
        presorted: bool = False,
        description: str | None = None,
    ) -> None:
        dates = []
        for value in event_dates:
            if not isinstance(value, datetime):
                raise AerovaneDagError(f"event_dates must hold datetimes, not {value!r}")
            dates.append(as_utc(value))
        self.event_dates = dates if presorted else sorted(dates)
        self.restrict_to_events = bool(restrict_to_events)
        if description is not None:
            self._summary = self._description = description
        else:
            self._summary = f"{len(self.event_dates)} events"
            self._description = (
                f"{len(self.event_dates)} events between {self.event_dates[0]} and "
                f"{self.event_dates[-1]}"
                if self.event_dates
                else "No events"
            )
        self._given_description = description

    @property
    def summary(self) -> str:
        return self._summary

    @property
    def description(self) -> str:
        return self._description

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        restriction = _aware_restriction(restriction)
        last = _aware_interval(last_automated_data_interval)
        earliest = restriction.earliest
        if not restriction.catchup:
            now = utcnow()
            if earliest is None or now > earliest:
                earliest = now
        for event in self.event_dates:
            if earliest is not None and event < earliest:
                continue
            if last is not None and event <= last.end:
                continue
            break
        else:
            return None
        if restriction.latest is not None and event > restriction.latest:
            return None
        return DagRunInfo.exact(event)

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        run_after = as_utc(run_after)
        if not self.restrict_to_events or not self.event_dates:
            return DataInterval.exact(run_after)
        past = [event for event in self.event_dates if event <= run_after]
        return DataInterval.exact(past[-1] if past else self.event_dates[0])

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": self.type_name,
            "event_dates": [d.isoformat() for d in self.event_dates],
            "restrict_to_events": self.restrict_to_events,
            "description": self._given_description,
        }


class DatasetTriggeredTimetable(NullTimetable):
    """Runs come from dataset events, never from the clock (Airflow's DatasetTriggeredTimetable)."""

    def __init__(self, condition: Any) -> None:
        self.condition = condition

    @property
    def dataset_condition(self) -> Any:
        return self.condition

    @property
    def summary(self) -> str:
        return "Dataset"

    @property
    def description(self) -> str:
        return "Triggered by datasets"

    def serialize(self) -> dict[str, Any]:
        return {"__type": "dataset", "expression": self.condition.as_expression()}

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return None


class DatasetOrTimeSchedule(DatasetTriggeredTimetable):
    """Runs on dataset events *and* on a time-based timetable (Airflow's DatasetOrTimeSchedule).

    The scheduler reads `condition` for dataset-triggered runs and asks `next_dagrun_info`, which
    is the wrapped timetable's, for scheduled ones.
    """

    def __init__(self, *, timetable: Timetable, datasets: Any) -> None:
        from aerovane.authoring.datasets import BaseDataset, DatasetAll

        if isinstance(timetable, DatasetTriggeredTimetable) or not isinstance(timetable, Timetable):
            raise AerovaneDagError(
                "DatasetOrTimeSchedule needs a time-based timetable (dataset timetables "
                "cannot be nested)"
            )
        if isinstance(datasets, BaseDataset):
            condition = datasets
        else:
            items = list(datasets) if isinstance(datasets, Iterable) else []
            if not items or not all(isinstance(d, BaseDataset) for d in items):
                raise AerovaneDagError("all elements in 'datasets' must be datasets")
            condition = items[0] if len(items) == 1 else DatasetAll(*items)
        super().__init__(condition)
        self.timetable = timetable
        self.active_runs_limit = timetable.active_runs_limit  # type: ignore[misc]

    @property
    def periodic(self) -> bool:  # type: ignore[override]
        return self.timetable.periodic

    @property
    def can_be_scheduled(self) -> bool:  # type: ignore[override]
        return self.timetable.can_be_scheduled

    @property
    def summary(self) -> str:
        return f"Dataset or {self.timetable.summary}"

    @property
    def description(self) -> str:
        return f"Triggered by datasets or {self.timetable.description}"

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        return self.timetable.next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        return self.timetable.infer_manual_data_interval(run_after=run_after)

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": "dataset_or_time",
            "expression": self.condition.as_expression(),
            "timetable": timetable_to_dict(self.timetable),
        }

    def schedule_interval_json(self) -> dict[str, Any] | None:
        return self.timetable.schedule_interval_json()


def timetable_from_schedule(schedule: object, timezone: str | tzinfo | None = None) -> Timetable:
    """The timetable for a DAG's `schedule` argument (None, preset/cron string, timedelta, ...);
    a cron expression is evaluated in `timezone` (the DAG's, from its start date)."""
    from aerovane.authoring.datasets import condition_from_schedule

    if schedule is None:
        return NullTimetable()
    condition = condition_from_schedule(schedule)
    if condition is not None:
        return DatasetTriggeredTimetable(condition)
    if isinstance(schedule, Timetable):
        schedule.validate()
        return schedule
    if isinstance(schedule, timedelta):
        return DeltaDataIntervalTimetable(schedule)
    if isinstance(schedule, str):
        value = schedule.strip()
        if value == "@once":
            return OnceTimetable()
        if value == "@continuous":
            return ContinuousTimetable()
        return CronDataIntervalTimetable(value, timezone)
    raise AerovaneDagError(
        f"Unsupported schedule {schedule!r}: use None, a cron expression or preset, "
        "a datetime.timedelta, a Timetable, or Datasets"
    )


def _timezone_or_none(timezone: str | tzinfo | None) -> tzinfo | None:
    """A pendulum timezone for a non-UTC `timezone`; None for UTC (the fast path)."""
    if timezone is None:
        return None
    from aerovane.authoring.timezone import parse_timezone, timezone_name

    if isinstance(timezone, str):
        if timezone.upper() in ("UTC", "ETC/UTC", "Z", "+00:00"):
            return None
        try:
            return parse_timezone(timezone)
        except Exception as err:  # noqa: BLE001 - pendulum raises several kinds
            raise AerovaneDagError(f"Unknown timezone {timezone!r}: {err}") from None
    if timezone.utcoffset(None) == timedelta(0) and timezone_name(timezone) in ("UTC", "Etc/UTC"):
        return None
    return timezone


def timetable_to_dict(timetable: Timetable) -> dict[str, Any]:
    """`timetable` as JSON: its own form if built in, else its class path and `serialize()`."""
    if timetable.type_name:
        return timetable.serialize()
    cls = type(timetable)
    return {
        "__type": "custom",
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "data": timetable.serialize(),
    }


def timetable_from_dict(data: Mapping[str, Any]) -> Timetable:
    """Rebuild a timetable from `timetable_to_dict()` output."""
    kind = data.get("__type")
    if kind == "null":
        return NullTimetable()
    if kind == "once":
        return OnceTimetable()
    if kind == "continuous":
        return ContinuousTimetable()
    if kind in ("dataset", "dataset_or_time"):
        from aerovane.authoring.datasets import condition_from_expression

        condition = condition_from_expression(data["expression"])
        if kind == "dataset":
            return DatasetTriggeredTimetable(condition)
        return DatasetOrTimeSchedule(
            timetable=timetable_from_dict(data["timetable"]), datasets=condition
        )
    if kind == "cron":
        return CronDataIntervalTimetable(data["expression"], data.get("timezone"))
    if kind == "cron_trigger":
        return CronTriggerTimetable(
            data["expression"],
            timezone=data.get("timezone", "UTC"),
            interval=timedelta(seconds=data.get("interval", 0)),
        )
    if kind == "events":
        return EventsTimetable(
            [datetime.fromisoformat(d) for d in data["event_dates"]],
            restrict_to_events=data.get("restrict_to_events", False),
            presorted=True,
            description=data.get("description"),
        )
    if kind == "delta":
        return DeltaDataIntervalTimetable(
            timedelta(
                days=data.get("days", 0),
                seconds=data.get("seconds", 0),
                microseconds=data.get("microseconds", 0),
            )
        )
    if kind == "custom":
        from aerovane.authoring.plugins import registered_timetable

        return registered_timetable(data["class"]).deserialize(dict(data.get("data") or {}))
    raise ValueError(f"Unknown serialized timetable type {kind!r}")
