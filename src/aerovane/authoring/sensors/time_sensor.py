"""`TimeSensor`: wait until a time of day (in the DAG's timezone, UTC in Aerovane) has passed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.sensors.base import BaseSensorOperator

__all__ = ["TimeSensor"]


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
