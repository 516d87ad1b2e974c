"""`DayOfWeekSensor`: done on chosen week days (`WeekDay` lives in `authoring.weekday`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.weekday import WeekDay

__all__ = ["DayOfWeekSensor", "WeekDay"]


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
