"""`BranchDayOfWeekOperator`: follow one branch on given days of the week, another otherwise."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from aerovane.authoring._time import utcnow
from aerovane.authoring.operators.branch import BaseBranchOperator
from aerovane.authoring.weekday import WeekDay

__all__ = ["BranchDayOfWeekOperator"]


def _dag_timezone(operator: Any) -> dt.tzinfo:
    dag = operator.dag
    return getattr(dag, "timezone", None) or dt.UTC


class BranchDayOfWeekOperator(BaseBranchOperator):
    """True branch when today (or, with `use_task_logical_date`, the run's logical date) in
    the DAG's time zone is one of `week_day` (a name, a `WeekDay`, or a collection of them)."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        use_task_execution_day: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date
        if use_task_execution_day:
            self.use_task_logical_date = True
            warnings.warn(
                "Parameter ``use_task_execution_day`` is deprecated. "
                "Use ``use_task_logical_date``.",
                DeprecationWarning,
                stacklevel=2,
            )
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str]:
        now = context["logical_date"] if self.use_task_logical_date else utcnow()
        local = now.astimezone(_dag_timezone(self))
        if local.isoweekday() in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false
