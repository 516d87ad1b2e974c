"""UTC datetime helpers shared by DAGs, operators, timetables and serialization.

Aerovane stores and compares only timezone-aware UTC datetimes; a naive value supplied by a DAG
author is taken to be UTC (Airflow's behaviour with `default_timezone = utc`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = [
    "UTC",
    "as_utc",
    "coerce_optional_datetime",
    "dt_from_iso",
    "dt_to_iso",
    "td_from_seconds",
    "td_to_seconds",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime; naive input is interpreted as UTC.

    A pendulum `DateTime` (the context's dates) becomes a stdlib datetime first: pendulum 3
    drops a `datetime.timezone` when a timedelta is added, which would make timetable
    arithmetic naive."""
    if type(value) is not datetime and isinstance(value, datetime):
        value = datetime(
            *value.timetuple()[:6], value.microsecond, tzinfo=value.tzinfo, fold=value.fold
        )
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    if value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def coerce_optional_datetime(value: object, what: str) -> datetime | None:
    """Validate a user-supplied date argument and normalise it to UTC.

    `what` names the argument in the error, because a bad `start_date` is a common DAG mistake
    and the message must say which argument was wrong.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime.datetime, got {type(value).__name__}")
    return as_utc(value)


def dt_to_iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def dt_from_iso(value: str | None) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(value))


def td_to_seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def td_from_seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)
