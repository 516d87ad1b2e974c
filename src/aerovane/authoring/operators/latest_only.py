"""`LatestOnlyOperator`: let downstream tasks run only in the latest scheduled interval."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from aerovane.authoring._time import as_utc, utcnow
from aerovane.authoring.operators.branch import BaseBranchOperator
from aerovane.authoring.timetables import DataInterval, TimeRestriction

__all__ = ["LatestOnlyOperator"]


class LatestOnlyOperator(BaseBranchOperator):
    """Skips its direct downstream tasks unless now falls in the interval of the run that
    follows this one (i.e. this run is the most recent one due), as Airflow 2 does.

    Runs triggered from outside the schedule (manual, API, another DAG) always proceed.
    """

    ui_color: ClassVar[str] = "#e9ffdb"

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str]:
        downstream = sorted(self.downstream_task_ids)
        if getattr(context["dag_run"], "external_trigger", False):
            self.log.info("Externally triggered DAG_Run: allowing execution to proceed.")
            return downstream
        dag = context["dag"]
        interval = DataInterval(
            as_utc(context["data_interval_start"]), as_utc(context["data_interval_end"])
        )
        unrestricted = TimeRestriction(earliest=None, latest=None, catchup=True)
        next_info = dag.timetable.next_dagrun_info(
            last_automated_data_interval=interval, restriction=unrestricted
        )
        if next_info is None:
            self.log.info("Last scheduled execution: allowing execution to proceed.")
            return downstream
        left_window, right_window = next_info.data_interval
        now = utcnow()
        self.log.info(
            "Checking latest only with left_window: %s right_window: %s now: %s",
            left_window,
            right_window,
            now,
        )
        if not left_window < now <= right_window:
            self.log.info("Not latest execution, skipping downstream.")
            return []
        self.log.info("Latest, allowing execution to proceed.")
        return downstream
