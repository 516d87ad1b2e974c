"""The `ti` object task code and templates see: identity, XCom, skipping and a metadata client,
backed by the DB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import update

from aerovane.authoring.models import DagRun, TaskInstance
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow
from aerovane.runtime import xcom
from aerovane.runtime.metadata import TaskMetadataClient
from aerovane.states import TaskState

DagRun.register(models.DagRun)  # what task code gets as `dag_run`


class RuntimeTaskInstance(TaskInstance):
    """A running attempt, as `context["ti"]`. Attribute names follow Airflow's TaskInstance."""

    def __init__(self, row: models.TaskInstance, dag_run: models.DagRun, task: Any) -> None:
        self.dag_id = row.dag_id
        self.task_id = row.task_id
        self.run_id = row.run_id
        self.map_index = row.map_index
        self.try_number = row.try_number
        self.max_tries = row.max_tries
        self.state = row.state
        self.start_date: dt.datetime | None = row.start_date
        self.hostname = row.hostname
        self.pool = row.pool
        self.queue = row.queue
        self.priority_weight = row.priority_weight
        self.operator = row.operator
        self.task = task
        self.logical_date = dag_run.logical_date
        self.execution_date = dag_run.logical_date
        self._dag_run_id = dag_run.id
        #: Reads of other task instances and runs for operators (sensors), see runtime.metadata.
        self.metadata = TaskMetadataClient()

    def __repr__(self) -> str:
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} [{self.state}]>"

    def xcom_push(self, key: str, value: Any) -> None:
        xcom.push(
            dag_run_id=self._dag_run_id,
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            map_index=self.map_index,
            key=key,
            value=value,
        )

    def xcom_pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        dag_id: str | None = None,
        key: str | None = xcom.RETURN_KEY,
        include_prior_dates: bool = False,
        map_indexes: int | None = None,
        default: Any = None,
    ) -> Any:
        """Airflow's semantics: a single task id gives a value, a list gives a list."""
        if dag_id is not None and dag_id != self.dag_id:
            raise NotImplementedError("pulling XComs of another DAG is not supported")
        if include_prior_dates:
            raise NotImplementedError("include_prior_dates is not supported")
        single = isinstance(task_ids, str)
        if isinstance(task_ids, str) and map_indexes is None and key is not None:
            # A mapped task's values, in map-index order (Airflow's lazy sequence, as a list).
            rows = xcom.pull_all_indexes(dag_run_id=self._dag_run_id, task_id=task_ids, key=key)
            if any(index >= 0 for index, _ in rows):
                return [value for index, value in rows if index >= 0]
        ids = [task_ids] if single else (None if task_ids is None else list(task_ids))
        found = xcom.pull(dag_run_id=self._dag_run_id, task_ids=ids, key=key, map_index=map_indexes)
        if single:
            return found.get(ids[0], default) if ids else default  # type: ignore[index]
        if ids is None:
            return next(iter(found.values()), default) if found else default
        return [found.get(t, default) for t in ids]

    def skip_tasks(self, task_ids: Iterable[str]) -> None:
        """Mark not-yet-started task instances of this run skipped (branching, short-circuit)."""
        ids = list(task_ids)
        if not ids:
            return
        now = utcnow()
        with create_session() as session:
            session.execute(
                update(models.TaskInstance)
                .where(
                    models.TaskInstance.dag_id == self.dag_id,
                    models.TaskInstance.run_id == self.run_id,
                    models.TaskInstance.task_id.in_(ids),
                    (models.TaskInstance.state.is_(None))
                    | (models.TaskInstance.state == TaskState.SCHEDULED.value),
                )
                .values(state=TaskState.SKIPPED.value, start_date=now, end_date=now, duration=0)
            )
