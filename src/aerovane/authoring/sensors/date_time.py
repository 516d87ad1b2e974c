"""`DateTimeSensor`: wait until a (templated) date and time has passed; `DateTimeSensorAsync`
waits in the triggerer instead of a worker slot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

from aerovane.authoring._time import as_utc, utcnow
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.triggers.temporal import DateTimeTrigger

__all__ = ["DateTimeSensor", "DateTimeSensorAsync"]


class DateTimeSensor(BaseSensorOperator):
    """Done once now is later than `target_time` (a datetime, or an ISO 8601 string that may be
    a template such as `"{{ next_ds }}T01:00:00"`; a time without zone is UTC)."""

    template_fields: ClassVar[tuple[str, ...]] = ("target_time",)

    def __init__(self, *, target_time: str | dt.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A template field is kept as a string, so a datetime is stored in ISO form.
        if isinstance(target_time, dt.datetime):
            self.target_time = target_time.isoformat()
        elif isinstance(target_time, str):
            self.target_time = target_time
        else:
            raise TypeError(
                f"Expected str or datetime.datetime type for target_time. Got {type(target_time)}"
            )

    def poke(self, context: Mapping[str, Any]) -> bool:
        self.log.info("Checking if the time (%s) has come", self.target_time)
        return utcnow() > as_utc(dt.datetime.fromisoformat(self.target_time))


class DateTimeSensorAsync(DateTimeSensor):
    """Defers until `target_time` (rendered, as for `DateTimeSensor`)."""

    def execute(self, context: Mapping[str, Any]) -> None:
        moment = as_utc(dt.datetime.fromisoformat(self.target_time))
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="execute_complete")

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        """The trigger fired: the time has come."""
