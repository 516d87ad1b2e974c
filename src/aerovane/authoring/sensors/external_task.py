"""`ExternalTaskSensor` (wait for another DAG's run or tasks) and `ExternalTaskMarker` (clearing
it clears the dependent task in the other DAG).

The sensor reads the other DAG's states through the task runtime's metadata client
(`ti.metadata`), never from the database directly; with `deferrable=True` it hands the wait to
the triggerer (`WorkflowTrigger`, which gets the same client there). Clearing through markers is
done by the services that clear task instances, from the marker's serialized fields.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, ClassVar

from aerovane.authoring.exceptions import AerovaneException, AerovaneSkipException
from aerovane.authoring.operators.empty import EmptyOperator
from aerovane.authoring.sensors.base import BaseSensorOperator
from aerovane.authoring.triggers.external_task import WorkflowTrigger, external_count

__all__ = ["ExternalDagLink", "ExternalTaskMarker", "ExternalTaskSensor"]

TASK_STATES = frozenset(
    {
        "success", "failed", "skipped", "upstream_failed", "removed", "scheduled", "queued",
        "running", "up_for_retry", "up_for_reschedule", "restarting", "deferred", "shutdown",
    }
)  # fmt: skip
DAG_STATES = frozenset({"success", "failed", "queued", "running"})


class ExternalDagLink:
    """Airflow's operator extra link to the other DAG; imported by DAG files, shown nowhere."""

    name = "External DAG"


class ExternalTaskSensor(BaseSensorOperator):
    """Waits until `external_task_id(s)` of `external_dag_id` (or, with neither, the DAG run
    itself) reach one of `allowed_states` for this run's logical date, shifted by
    `execution_delta` or computed by `execution_date_fn` (which may return several dates).
    `external_task_group_id` watches every task of a task group of the other DAG.

    Any of them in `failed_states` fails the sensor (skips it with `soft_fail`); any in
    `skipped_states` skips it.
    """

    template_fields: ClassVar[tuple[str, ...]] = (
        "external_dag_id",
        "external_task_id",
        "external_task_ids",
        "external_task_group_id",
    )
    ui_color: ClassVar[str] = "#4db7db"
    #: In the serialized DAG for `dags show-dependencies` (Airflow's "sensor" dependency).
    serialized_extra_fields: ClassVar[tuple[str, ...]] = ("external_dag_id",)

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Collection[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: dt.timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        poll_interval: float = 2.0,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.allowed_states = list(allowed_states) if allowed_states else ["success"]
        self.skipped_states = list(skipped_states) if skipped_states else []
        self.failed_states = list(failed_states) if failed_states else []
        total = set(self.allowed_states) | set(self.skipped_states) | set(self.failed_states)
        if len(total) != len(self.allowed_states) + len(self.skipped_states) + len(
            self.failed_states
        ):
            raise AerovaneException(
                "Duplicate values provided across allowed_states, skipped_states and failed_states."
            )
        ids = list(external_task_ids) if external_task_ids else None
        if external_task_id is not None and ids is not None:
            raise ValueError(
                "Only one of `external_task_id` or `external_task_ids` may be provided to "
                "ExternalTaskSensor; use external_task_id or external_task_ids or "
                "external_task_group_id."
            )
        if external_task_group_id is not None and ids is not None:
            raise ValueError(
                "Only one of `external_task_group_id` or `external_task_ids` may be provided to "
                "ExternalTaskSensor; use external_task_id or external_task_ids or "
                "external_task_group_id."
            )
        if external_task_id is not None:
            ids = [external_task_id]
        if ids or external_task_group_id:
            if not total <= TASK_STATES:
                raise ValueError(
                    "Valid values for `allowed_states`, `skipped_states` and `failed_states` "
                    "when `external_task_id` or `external_task_ids` or `external_task_group_id` "
                    f"is not `None`: {sorted(TASK_STATES)}"
                )
        elif not total <= DAG_STATES:
            raise ValueError(
                "Valid values for `allowed_states`, `skipped_states` and `failed_states` when "
                f"`external_task_id` and `external_task_group_id` is `None`: {sorted(DAG_STATES)}"
            )
        if execution_delta is not None and execution_date_fn is not None:
            raise ValueError(
                "Only one of `execution_delta` or `execution_date_fn` may be provided to "
                "ExternalTaskSensor; not both."
            )
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = ids
        self.external_task_group_id = external_task_group_id
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence
        self._has_checked_existence = False
        self.deferrable = deferrable
        self.poll_interval = poll_interval

    def _dates(self, context: Mapping[str, Any]) -> list[dt.datetime]:
        logical_date: dt.datetime = context["logical_date"]
        if self.execution_delta is not None:
            value: Any = logical_date - self.execution_delta
        elif self.execution_date_fn is not None:
            value = self._call_execution_date_fn(context)
        else:
            value = logical_date
        return list(value) if isinstance(value, (list, tuple)) else [value]

    def _call_execution_date_fn(self, context: Mapping[str, Any]) -> Any:
        assert self.execution_date_fn is not None
        logical_date = context["logical_date"]
        available = {
            k: v for k, v in context.items() if k not in {"execution_date", "logical_date"}
        }
        available["context"] = context
        signature = inspect.signature(self.execution_date_fn)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
            return self.execution_date_fn(logical_date, **available)
        names = list(signature.parameters)[1:]
        return self.execution_date_fn(
            logical_date, **{n: available[n] for n in names if n in available}
        )

    def _count(self, metadata: Any, dates: list[dt.datetime], states: list[str]) -> float:
        return external_count(
            metadata,
            dag_id=self.external_dag_id,
            task_ids=self.external_task_ids,
            task_group_id=self.external_task_group_id,
            logical_dates=dates,
            states=states,
        )

    def _what(self) -> str:
        if self.external_task_ids:
            return (
                f"Some of the external tasks {self.external_task_ids} in DAG {self.external_dag_id}"
            )
        if self.external_task_group_id:
            return (
                f"The external task_group '{self.external_task_group_id}' in DAG "
                f"'{self.external_dag_id}'"
            )
        return f"The external DAG {self.external_dag_id}"

    def poke(self, context: Mapping[str, Any]) -> bool:
        if self.external_task_ids and len(self.external_task_ids) > len(
            set(self.external_task_ids)
        ):
            raise ValueError("Duplicate task_ids passed in external_task_ids parameter")
        metadata = getattr(context["ti"], "metadata", None)
        if metadata is None:
            raise AerovaneException(
                "ExternalTaskSensor needs the task runtime's metadata client (not available "
                "in `tasks test`)"
            )
        dates = self._dates(context)
        shown = ",".join(d.isoformat() for d in dates)
        if self.external_task_ids:
            self.log.info(
                "Poking for tasks %s in dag %s on %s ... ",
                self.external_task_ids,
                self.external_dag_id,
                shown,
            )
        elif self.external_task_group_id:
            self.log.info(
                "Poking for task_group '%s' in dag '%s' on %s ... ",
                self.external_task_group_id,
                self.external_dag_id,
                shown,
            )
        else:
            self.log.info("Poking for DAG '%s' on %s ... ", self.external_dag_id, shown)
        if self.check_existence and not self._has_checked_existence:
            self._check_for_existence(metadata)
        if self.failed_states and self._count(metadata, dates, self.failed_states) > 0:
            if self.soft_fail:
                raise AerovaneSkipException(f"{self._what()} failed. Skipping due to soft_fail.")
            raise AerovaneException(f"{self._what()} failed.")
        if self.skipped_states and self._count(metadata, dates, self.skipped_states) > 0:
            raise AerovaneSkipException(
                f"{self._what()} reached a state in our states-to-skip-on list. Skipping."
            )
        return self._count(metadata, dates, self.allowed_states) == len(dates)

    def _check_for_existence(self, metadata: Any) -> None:
        if not metadata.dag_exists(self.external_dag_id):
            raise AerovaneException(f"The external DAG {self.external_dag_id} does not exist.")
        for task_id in self.external_task_ids or ():
            if not metadata.dag_has_task(self.external_dag_id, task_id):
                raise AerovaneException(
                    f"The external task {task_id} in DAG {self.external_dag_id} does not exist."
                )
        group = self.external_task_group_id
        if group and not metadata.dag_has_task_group(self.external_dag_id, group):
            raise AerovaneException(
                f"The external task group '{group}' in DAG '{self.external_dag_id}' does not exist."
            )
        self._has_checked_existence = True

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Pokes on the worker, or (`deferrable=True`) waits in the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        self.defer(
            timeout=self.execution_timeout,
            trigger=WorkflowTrigger(
                external_dag_id=self.external_dag_id,
                external_task_ids=self.external_task_ids,
                external_task_group_id=self.external_task_group_id,
                execution_dates=self._dates(context),
                failed_states=self.failed_states,
                skipped_states=self.skipped_states,
                allowed_states=self.allowed_states,
                poke_interval=self.poll_interval,
                soft_fail=self.soft_fail,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> None:
        status = (event or {}).get("status")
        if status == "success":
            self.log.info("External tasks %s has executed successfully.", self.external_task_ids)
        elif status == "skipped":
            raise AerovaneSkipException("External job has skipped skipping.")
        elif self.soft_fail:
            raise AerovaneSkipException("External job has failed skipping.")
        else:
            raise AerovaneException(
                "Error occurred while trying to retrieve task status. Please, check the "
                "name of executed task and Dag."
            )


class ExternalTaskMarker(EmptyOperator):
    """Marks that `external_task_id` of `external_dag_id` at `execution_date` (templated; the
    run's logical date by default) depends on this task: clearing this task with its dependents
    clears that one and its downstream, following markers up to `recursion_depth` levels."""

    template_fields: ClassVar[tuple[str, ...]] = (
        "external_dag_id",
        "external_task_id",
        "execution_date",
    )
    ui_color: ClassVar[str] = "#4db7db"
    #: Carried in the serialized DAG, so the services can follow markers without user code.
    serialized_extra_fields: ClassVar[tuple[str, ...]] = (
        "external_dag_id",
        "external_task_id",
        "execution_date",
        "recursion_depth",
    )

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str,
        execution_date: str | dt.datetime | None = "{{ logical_date.isoformat() }}",
        recursion_depth: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        if isinstance(execution_date, dt.datetime):
            self.execution_date = execution_date.isoformat()
        elif isinstance(execution_date, str):
            self.execution_date = execution_date
        else:
            raise TypeError(
                "Expected str or datetime.datetime type for execution_date. "
                f"Got {type(execution_date)}"
            )
        if recursion_depth <= 0:
            raise ValueError("recursion_depth should be a positive integer")
        self.recursion_depth = recursion_depth
