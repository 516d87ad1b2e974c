"""`airflow.models` names a DAG file uses in annotations and a few class-level helpers.

`TaskInstance` and `DagRun` are abstract: the task runtime registers the classes it hands to
task code (`context["ti"]`, `context["dag_run"]`), so `isinstance(ti, TaskInstance)` holds and
`ti: TaskInstance` reads as in Airflow. `XCom.get_one` asks the running task's instance (from
`get_current_context()`), never the database directly: outside a running task there is nothing
to ask, and it says so.
"""

from __future__ import annotations

from abc import ABC
from typing import Any

__all__ = ["DagRun", "TaskInstance", "XCom"]


class TaskInstance(ABC):  # noqa: B024 - a registration point, not an interface to implement
    """A task attempt as task code sees it (`xcom_pull`, `xcom_push`, `task_id`, ...)."""


class DagRun(ABC):  # noqa: B024
    """A DAG run as task code sees it (`run_id`, `logical_date`, `conf`, ...)."""


class XCom:
    """Class-level XCom helpers DAG files call, served by the running task's instance."""

    @staticmethod
    def get_one(
        *,
        key: str | None = None,
        dag_id: str | None = None,
        task_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
        include_prior_dates: bool = False,
        **_: Any,
    ) -> Any:
        """One XCom value of the running task's DAG run (Airflow 2's `XCom.get_one`)."""
        from aerovane.authoring.context import get_current_context

        ti = get_current_context()["ti"]
        if run_id is not None and run_id != ti.run_id:
            raise NotImplementedError("XCom.get_one reads XComs of the running task's run only")
        return ti.xcom_pull(
            task_ids=task_id or ti.task_id,
            dag_id=dag_id,
            key=key,
            map_indexes=map_index,
            include_prior_dates=include_prior_dates,
        )
