"""`TimeDeltaSensor`: wait until `delta` after the end of the run's data interval."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.sensors.base import BaseSensorOperator

__all__ = ["TimeDeltaSensor"]


class TimeDeltaSensor(BaseSensorOperator):
    """Done once now is later than `data_interval_end + delta`."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def poke(self, context: Mapping[str, Any]) -> bool:
        target = context["data_interval_end"] + self.delta
        self.log.info("Checking if the time (%s) has come", target)
        return utcnow() > target
