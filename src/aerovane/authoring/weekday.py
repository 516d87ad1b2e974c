"""`WeekDay`: ISO weekday numbers by name, and the coercion of user input to a set of them."""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["WeekDay"]


@enum.unique
class WeekDay(enum.IntEnum):
    """Python's `isoweekday()` numbering: Monday is 1, Sunday is 7."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> int:
        """ "monday"/"Monday"/"MONDAY" → 1; anything else is an error naming the value."""
        sanitized = week_day_str.upper()
        if sanitized not in cls.__members__:
            raise AttributeError(f'Invalid Week Day passed: "{week_day_str}"')
        return cls[sanitized].value

    @classmethod
    def convert(cls, day: str | WeekDay) -> int:
        if isinstance(day, WeekDay):
            return day.value
        if isinstance(day, str):
            return cls.get_weekday_number(day)
        raise TypeError(f"Unsupported Type for week_day parameter: {type(day).__name__}")

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[int]:
        """One day or a collection of days (names or members) as a set of ISO numbers."""
        if isinstance(week_day, (str, WeekDay)):
            return {cls.convert(week_day)}
        if isinstance(week_day, Iterable):
            days = list(week_day)
            if not days:
                raise ValueError("week_day must name at least one day")
            return {cls.convert(day) for day in days}
        raise TypeError(
            "Unsupported Type for week_day parameter: "
            f"{type(week_day).__name__}. Input should be iterable type: str, set, list, dict "
            "or Weekday enum type"
        )
