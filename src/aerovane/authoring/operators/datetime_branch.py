"""`BranchDateTimeOperator`: follow one branch inside a time window, another outside it."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.exceptions import AerovaneException
from aerovane.authoring.operators.branch import BaseBranchOperator
from aerovane.authoring.operators.weekday import _dag_timezone

__all__ = ["BranchDateTimeOperator", "target_times_as_dates"]

Target = dt.datetime | dt.time | None


def target_times_as_dates(
    base_date: dt.datetime, lower: Target, upper: Target
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Times of day become datetimes on `base_date`'s date; a window whose upper time is
    before its lower one ends the next day (e.g. 22:00 to 02:00)."""
    if isinstance(lower, dt.datetime) and isinstance(upper, dt.datetime):
        return lower, upper
    if isinstance(lower, dt.time):
        lower = dt.datetime.combine(base_date, lower)
    if isinstance(upper, dt.time):
        upper = dt.datetime.combine(base_date, upper)
    if lower is None or upper is None:
        return lower, upper
    if upper < lower:
        upper += dt.timedelta(days=1)
    return lower, upper


class BranchDateTimeOperator(BaseBranchOperator):
    """True branch when now (or the logical date) lies within [`target_lower`, `target_upper`].

    Either bound may be None (open); naive bounds are read in the DAG's time zone.
    """

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        target_lower: Target,
        target_upper: Target,
        use_task_logical_date: bool = False,
        use_task_execution_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise AerovaneException(
                "Both target_upper and target_lower are None. At least one "
                "must be defined to be compared to the current datetime"
            )
        for name, value in (("target_lower", target_lower), ("target_upper", target_upper)):
            if value is not None and not isinstance(value, (dt.datetime, dt.time)):
                raise TypeError(
                    f"{name} must be a datetime.datetime, a datetime.time or None, "
                    f"got {type(value).__name__}"
                )
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.use_task_logical_date = use_task_logical_date
        if use_task_execution_date:
            self.use_task_logical_date = True
            warnings.warn(
                "Parameter ``use_task_execution_date`` is deprecated. "
                "Use ``use_task_logical_date``.",
                DeprecationWarning,
                stacklevel=2,
            )

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str]:
        now = context["logical_date"] if self.use_task_logical_date else utcnow()
        lower, upper = target_times_as_dates(now, self.target_lower, self.target_upper)
        tz = _dag_timezone(self)
        if upper is not None and upper.tzinfo is None:
            upper = upper.replace(tzinfo=tz)
        if lower is not None and lower.tzinfo is None:
            lower = lower.replace(tzinfo=tz)
        if upper is not None and upper < now:
            return self.follow_task_ids_if_false
        if lower is not None and lower > now:
            return self.follow_task_ids_if_false
        return self.follow_task_ids_if_true
