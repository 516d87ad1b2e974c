"""`TimeSensor`: wait until a time of day (in the DAG's timezone, UTC in Aerovane) has passed;
`TimeSensorAsync` waits in the triggerer instead of a worker slot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.triggers.temporal import DateTimeTrigger

__all__ = ["TimeSensor", "TimeSensorAsync"]


class TimeSensor(BaseSensorOperator):
    """Done once the current time of day is later than `target_time`."""

    def __init__(self, *, target_time: dt.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, dt.time):
            raise TypeError(f"target_time must be a datetime.time, got {type(target_time)}")
        self.target_time = target_time

    def poke(self, context: Mapping[str, Any]) -> bool:
        tz = getattr(self.dag, "timezone", None) or dt.UTC
        self.log.info("Checking if the time (%s) has come", self.target_time)
        return utcnow().astimezone(tz).time().replace(tzinfo=None) > self.target_time


class TimeSensorAsync(BaseSensorOperator):
    """Defers until `target_time` today (the day the task starts, in the DAG's timezone)."""

    def __init__(self, *, target_time: dt.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, dt.time):
            raise TypeError(f"target_time must be a datetime.time, got {type(target_time)}")
        self.target_time = target_time

    def execute(self, context: Mapping[str, Any]) -> None:
        tz = getattr(self.dag, "timezone", None) or dt.UTC
        today = utcnow().astimezone(tz).date()
        moment = dt.datetime.combine(today, self.target_time, tz)
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="execute_complete")

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """The trigger fired: the time has come."""
