"""`DateTimeTrigger` and `TimeDeltaTrigger`: fire once a moment has passed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from aerovane.authoring._time import as_utc, utcnow
from aerovane.authoring.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["DateTimeTrigger", "TimeDeltaTrigger"]

#: The longest single sleep, so a long wait still notices a cancellation and clock changes.
_MAX_SLEEP = 3600.0


class DateTimeTrigger(BaseTrigger):
    """Fires with the target moment as payload once `moment` (timezone-aware) has passed."""

    def __init__(self, moment: dt.datetime | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(moment, str):
            moment = dt.datetime.fromisoformat(moment)
        if not isinstance(moment, dt.datetime):
            raise TypeError(f"Expected datetime.datetime type for moment. Got {type(moment)}")
        if moment.tzinfo is None:
            raise ValueError("You cannot pass naive datetimes")
        self.moment = as_utc(moment)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "aerovane.authoring.triggers.temporal.DateTimeTrigger",
            {"moment": self.moment.isoformat()},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while (remaining := (self.moment - utcnow()).total_seconds()) > 0:
            self.log.info("%.1f seconds remaining; sleeping", remaining)
            await asyncio.sleep(min(remaining, _MAX_SLEEP))
        self.log.info("yielding event with payload %s", self.moment.isoformat())
        yield TriggerEvent(self.moment.isoformat())


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires `delta` after it was created (a `DateTimeTrigger` at now + delta)."""

    def __init__(self, delta: dt.timedelta, **kwargs: Any) -> None:
        super().__init__(moment=utcnow() + delta, **kwargs)
