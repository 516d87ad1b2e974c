"""Timezone helpers with Airflow 2's `airflow.utils.timezone` names, on pendulum.

Aerovane's default timezone is UTC (`[core] default_timezone = utc`): a naive datetime is taken
to be UTC. Values handed to DAG code (context dates, `utcnow()`) are pendulum `DateTime`s, so
`logical_date.add(days=1).format("YYYY")` works in templates as it does in Airflow.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pendulum

__all__ = [
    "coerce_datetime",
    "convert_to_utc",
    "datetime",
    "is_localized",
    "is_naive",
    "local_timezone",
    "make_aware",
    "make_naive",
    "parse",
    "parse_timezone",
    "timezone_name",
    "utc",
    "utc_epoch",
    "utcnow",
]

_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)")


#: Airflow's `timezone.utc` and the default timezone (`[core] default_timezone = utc`).
utc = pendulum.UTC
TIMEZONE = utc


def _utc() -> pendulum.Timezone:
    return utc


def is_localized(value: dt.datetime) -> bool:
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    return value.utcoffset() is None


def utcnow() -> pendulum.DateTime:
    """Now, as a pendulum DateTime in UTC."""
    return pendulum.now(pendulum.UTC)


def utc_epoch() -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=_utc())


def parse_timezone(name: str | int) -> pendulum.Timezone | pendulum.FixedTimezone:
    """A pendulum timezone by IANA name, "+HH:MM" offset, or UTC offset in seconds."""
    if isinstance(name, str):
        match = _OFFSET.fullmatch(name)
        if match is not None:
            sign = -1 if match.group(1) == "-" else 1
            return pendulum.FixedTimezone(sign * (int(match[2]) * 3600 + int(match[3]) * 60))
    return pendulum.timezone(name)


def timezone_name(tz: dt.tzinfo | None) -> str:
    """The name serialization stores for `tz`: an IANA name, "UTC", or an offset like "+01:00"."""
    if tz is None:
        return "UTC"
    name = getattr(tz, "name", None) or getattr(tz, "key", None) or getattr(tz, "zone", None)
    if isinstance(name, str) and name:
        return name
    offset = tz.utcoffset(None)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_timezone() -> pendulum.Timezone | pendulum.FixedTimezone:
    return pendulum.local_timezone()


def convert_to_utc(value: dt.datetime | None) -> pendulum.DateTime | None:
    """`value` in UTC as a pendulum DateTime; naive input is taken to be in UTC."""
    if value is None:
        return value
    if not is_localized(value):
        value = pendulum.instance(value, _utc())
    return pendulum.instance(value.astimezone(_utc()))


def make_aware(value: dt.datetime | None, timezone: dt.tzinfo | None = None) -> Any:
    """Attach `timezone` (default UTC) to a naive datetime; an aware one is an error."""
    if timezone is None:
        timezone = _utc()
    if not value:
        return None
    if is_localized(value):
        raise ValueError(f"make_aware expects a naive datetime, got {value}")
    value = value.replace(fold=1)
    localize = getattr(timezone, "localize", None)
    if localize is not None:
        return localize(value)
    convert = getattr(timezone, "convert", None)
    if convert is not None:
        return convert(value)
    return value.replace(tzinfo=timezone)


def make_naive(value: dt.datetime, timezone: dt.tzinfo | None = None) -> dt.datetime:
    """`value` as wall-clock time in `timezone` (default UTC), without tzinfo."""
    if timezone is None:
        timezone = _utc()
    if is_naive(value):
        raise ValueError("make_naive() cannot be applied to a naive datetime")
    local = value.astimezone(timezone)
    return dt.datetime(
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
        local.microsecond,
    )


def datetime(*args: Any, **kwargs: Any) -> dt.datetime:
    """`datetime.datetime(...)` with tzinfo defaulting to UTC."""
    if "tzinfo" not in kwargs and len(args) < 8:
        kwargs["tzinfo"] = _utc()
    return dt.datetime(*args, **kwargs)


def parse(string: str, timezone: dt.tzinfo | None = None, *, strict: bool = False) -> Any:
    """Parse a date/time string; without an offset it is taken to be in `timezone` (UTC)."""
    return pendulum.parse(string, tz=timezone or _utc(), strict=strict)


def coerce_datetime(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> Any:
    """`value` as a pendulum DateTime (naive input is taken to be in `tz`, default UTC)."""
    if value is None:
        return None
    if isinstance(value, pendulum.DateTime):
        return value
    if not is_localized(value):
        return pendulum.instance(value, tz or _utc())
    return pendulum.instance(value)
