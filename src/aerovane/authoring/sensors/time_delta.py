"""`TimeDeltaSensor`: wait until `delta` after the end of the run's data interval;
`TimeDeltaSensorAsync` waits in the triggerer instead of a worker slot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.triggers.temporal import DateTimeTrigger

__all__ = ["TimeDeltaSensor", "TimeDeltaSensorAsync"]


class TimeDeltaSensor(BaseSensorOperator):
    """Done once now is later than `data_interval_end + delta`."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def poke(self, context: Mapping[str, Any]) -> bool:
        target = context["data_interval_end"] + self.delta
        self.log.info("Checking if the time (%s) has come", target)
        return utcnow() > target


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """Defers until `data_interval_end + delta`; done at once if that has passed."""

    def execute(self, context: Mapping[str, Any]) -> None:
        target = context["data_interval_end"] + self.delta
        if utcnow() > target:
            self.log.info("Target %s has passed; not deferring", target)
            return
        self.defer(trigger=DateTimeTrigger(moment=target), method_name="execute_complete")

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """The trigger fired: the time has come."""
