"""The metadata client a running task gets as `context["client"]`.

Operators that act on other DAG runs (TriggerDagRunOperator, ...) call it instead of importing
`services`, `db` or `scheduler`: user-facing code stays on the authoring side of the layers,
and only this module decides how a task process reaches the metadata (today: the database
through the services, as the rest of the runtime does).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aerovane.authoring.exceptions import (
    AerovaneNotFoundException,
    DagRunAlreadyExists,
)
from aerovane.db.engine import create_session
from aerovane.services import dag_runs
from aerovane.services.errors import AlreadyExists, NotFound

__all__ = ["TaskRuntimeClient"]


class TaskRuntimeClient:
    """DAG-run operations on behalf of the task `triggered_by` names ("dag.task")."""

    def __init__(self, *, triggered_by: str) -> None:
        self.triggered_by = triggered_by

    def trigger_dag_run(
        self,
        dag_id: str,
        *,
        run_id: str | None,
        logical_date: dt.datetime | None,
        conf: dict[str, Any] | None,
    ) -> tuple[str, dt.datetime]:
        """Create a run (its commit wakes the schedulers); (run id, logical date).

        Raises AerovaneNotFoundException for an unknown DAG, DagRunAlreadyExists for a
        duplicate run id or logical date.
        """
        try:
            with create_session() as session:
                run = dag_runs.trigger(
                    dag_id,
                    run_id=run_id,
                    logical_date=logical_date,
                    conf=conf,
                    triggered_by=self.triggered_by,
                    session=session,
                )
                result = run.run_id, run.logical_date
        except NotFound as exc:
            raise AerovaneNotFoundException(str(exc)) from None
        except AlreadyExists as exc:
            raise DagRunAlreadyExists(str(exc)) from None
        return result

    def clear_dag_run(self, dag_id: str, run_id: str) -> tuple[str, dt.datetime]:
        """Clear every task instance of the run so it runs again; (run id, logical date)."""
        try:
            with create_session() as session:
                run, _ = dag_runs.clear_dag_run(dag_id, run_id, dry_run=False, session=session)
                result = run.run_id, run.logical_date
        except NotFound as exc:
            raise AerovaneNotFoundException(str(exc)) from None
        return result

    def dataset_events(self, *, uri: str | None = None, alias: str | None = None) -> list[Any]:
        """Past events of a dataset or alias, oldest first (a task's `inlet_events`)."""
        from aerovane.services.datasets import read_events

        with create_session(readonly=True) as session:
            return read_events(uri=uri, alias=alias, session=session)

    def triggering_dataset_events(self, dag_run_id: int) -> list[Any]:
        """The events that triggered a run (none unless it is dataset-triggered)."""
        from aerovane.services.datasets import read_events

        with create_session(readonly=True) as session:
            return read_events(dag_run_id=dag_run_id, session=session)

    def dag_run_state(self, dag_id: str, run_id: str) -> str:
        try:
            with create_session(readonly=True) as session:
                return dag_runs.get_dag_run(dag_id, run_id, session=session).state
        except NotFound as exc:
            raise AerovaneNotFoundException(str(exc)) from None
