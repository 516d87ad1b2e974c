"""`WorkflowTrigger`: wait in the triggerer for another DAG's run, tasks or task group
(`ExternalTaskSensor(deferrable=True)`), and `external_count`, the count both share.

The trigger reads the metadata through the client the triggerer hands it (`self.metadata`, the
task runtime's metadata client over the triggerer's services), each read in a worker thread so
the triggerer's event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Collection, Iterable
from typing import Any

from aerovane.authoring.triggers.base import BaseTrigger, TriggerEvent

__all__ = ["WorkflowTrigger", "external_count"]


def external_count(
    metadata: Any,
    *,
    dag_id: str,
    task_ids: Collection[str] | None,
    task_group_id: str | None,
    logical_dates: list[dt.datetime],
    states: Iterable[str],
) -> float:
    """Airflow's count for ExternalTaskSensor: the runs of `dag_id` at `logical_dates` in
    `states`; with `task_ids`, those task instances divided by the number of tasks; with
    `task_group_id`, the share of the group's task instances."""
    states = list(states)
    if not logical_dates:
        return 0
    if task_ids:
        found: int = metadata.count_task_instances(
            dag_id=dag_id, task_ids=list(task_ids), logical_dates=logical_dates, states=states
        )
        return found / len(task_ids)
    if task_group_id:
        share: float = metadata.task_group_share(
            dag_id=dag_id, group_id=task_group_id, logical_dates=logical_dates, states=states
        )
        return share
    runs: int = metadata.count_dag_runs(dag_id=dag_id, logical_dates=logical_dates, states=states)
    return runs


class WorkflowTrigger(BaseTrigger):
    """Fires `{"status": "failed"}` when any watched run or task is in `failed_states`,
    `{"status": "skipped"}` when any is in `skipped_states`, `{"status": "success"}` when all are
    in `allowed_states`; checks every `poke_interval` seconds."""

    def __init__(
        self,
        external_dag_id: str,
        execution_dates: list[dt.datetime | str],
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        failed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        allowed_states: Iterable[str] | None = None,
        poke_interval: float = 2.0,
        soft_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_ids = list(external_task_ids) if external_task_ids else None
        self.external_task_group_id = external_task_group_id
        self.failed_states = list(failed_states) if failed_states else None
        self.skipped_states = list(skipped_states) if skipped_states else None
        self.allowed_states = list(allowed_states) if allowed_states else ["success"]
        self.execution_dates = [
            d if isinstance(d, dt.datetime) else dt.datetime.fromisoformat(d)
            for d in execution_dates
        ]
        self.poke_interval = poke_interval
        self.soft_fail = soft_fail

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "aerovane.authoring.triggers.external_task.WorkflowTrigger",
            {
                "external_dag_id": self.external_dag_id,
                "external_task_ids": self.external_task_ids,
                "external_task_group_id": self.external_task_group_id,
                "failed_states": self.failed_states,
                "skipped_states": self.skipped_states,
                "allowed_states": self.allowed_states,
                "execution_dates": self.execution_dates,
                "poke_interval": self.poke_interval,
                "soft_fail": self.soft_fail,
            },
        )

    async def _count(self, states: Iterable[str]) -> float:
        if self.metadata is None:
            raise RuntimeError("WorkflowTrigger runs in the triggerer, which gives it metadata")
        return await asyncio.to_thread(
            external_count,
            self.metadata,
            dag_id=self.external_dag_id,
            task_ids=self.external_task_ids,
            task_group_id=self.external_task_group_id,
            logical_dates=self.execution_dates,
            states=states,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            if self.failed_states and await self._count(self.failed_states) > 0:
                yield TriggerEvent({"status": "failed"})
                return
            if self.skipped_states and await self._count(self.skipped_states) > 0:
                yield TriggerEvent({"status": "skipped"})
                return
            if await self._count(self.allowed_states) == len(self.execution_dates):
                yield TriggerEvent({"status": "success"})
                return
            self.log.info("Sleeping for %s seconds", self.poke_interval)
            await asyncio.sleep(self.poke_interval)
