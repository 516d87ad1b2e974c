"""`DayOfWeekSensor` and the `WeekDay` enum it accepts (Airflow's `airflow.utils.weekday`)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.sensors.base import BaseSensorOperator

__all__ = ["DayOfWeekSensor", "WeekDay"]


@enum.unique
class WeekDay(enum.IntEnum):
    """ISO week days: MONDAY is 1, SUNDAY is 7."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> WeekDay:
        name = week_day_str.upper()
        if name not in cls.__members__:
            raise AttributeError(f'Invalid Week Day passed: "{week_day_str}"')
        return cls[name]

    @classmethod
    def convert(cls, day: str | WeekDay) -> int:
        if isinstance(day, WeekDay):
            return day
        return cls.get_weekday_number(week_day_str=day)

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[int]:
        """The ISO numbers of one day or several (names in any case, or members)."""
        if isinstance(week_day, (str, WeekDay)):
            week_day = [week_day]
        elif not isinstance(week_day, Iterable):
            raise TypeError(
                f"Unsupported Type for week_day parameter: {type(week_day)}."
                "Input should be iterable type:str, set, list, dict or Weekday enum type"
            )
        return {cls.convert(day) for day in week_day}


class DayOfWeekSensor(BaseSensorOperator):
    """Done on one of `week_day` (today in UTC, or the run's logical date with
    `use_task_logical_date=True`)."""

    def __init__(
        self,
        *,
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        use_task_execution_day: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def poke(self, context: Mapping[str, Any]) -> bool:
        today = utcnow().isoweekday()
        self.log.info(
            "Poking until weekday is in %s, Today is %s", self.week_day, WeekDay(today).name
        )
        if self.use_task_logical_date:
            return context["logical_date"].isoweekday() in self._week_day_num
        return today in self._week_day_num
