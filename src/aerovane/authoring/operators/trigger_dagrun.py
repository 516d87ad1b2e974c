"""TriggerDagRunOperator: start a run of another DAG, optionally waiting for it to finish.

It reaches the metadata only through the task runtime's client (`context["client"]`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from typing import Any

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.exceptions import (
    AerovaneException,
    AerovaneNotFoundException,
    AerovaneSkipException,
    DagRunAlreadyExists,
)

XCOM_RUN_ID = "trigger_run_id"
XCOM_LOGICAL_DATE_ISO = "trigger_logical_date_iso"


_RUN_STATES = ("queued", "running", "success", "failed")


def _run_states(states: Iterable[str] | None, what: str) -> list[str]:
    values = [str(getattr(s, "value", s)) for s in states or ()]
    unknown = [s for s in values if s not in _RUN_STATES]
    if unknown:
        raise ValueError(f"{what}: {unknown} are not DAG run states (use {list(_RUN_STATES)})")
    return values


class DagIsPausedOrMissing(AerovaneException):
    """The DAG to trigger does not exist (or was deactivated)."""


class TriggerDagRunOperator(BaseOperator):
    """Triggers a run of `trigger_dag_id`, as Airflow 2's operator of the same name does.

    The run id and logical date are pushed to XCom (`trigger_run_id`,
    `trigger_logical_date_iso`). With `wait_for_completion`, the task polls every
    `poke_interval` seconds until the run reaches one of `allowed_states` (success by
    default) or fails on `failed_states`.
    """

    template_fields = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    ui_color = "#ffefeb"
    #: In the serialized DAG for `dags show-dependencies` (Airflow's "trigger" dependency).
    serialized_extra_fields = ("trigger_dag_id",)

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: Mapping[str, Any] | None = None,
        logical_date: str | dt.datetime | None = None,
        execution_date: str | dt.datetime | None = None,
        reset_dag_run: bool = False,
        wait_for_completion: bool = False,
        poke_interval: float = 60,
        allowed_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        skip_when_already_exists: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if logical_date is not None and execution_date is not None:
            raise ValueError("pass only one of logical_date and execution_date")
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = dict(conf) if conf is not None else None
        self.logical_date = logical_date if logical_date is not None else execution_date
        self.reset_dag_run = reset_dag_run
        self.wait_for_completion = wait_for_completion
        self.poke_interval = poke_interval
        self.allowed_states = _run_states(allowed_states, "allowed_states") or ["success"]
        self.failed_states = _run_states(failed_states, "failed_states") or ["failed"]
        self.skip_when_already_exists = skip_when_already_exists
        # Runs are always waited for in the task process; there is no triggerer to defer to.
        self.deferrable = deferrable

    def _logical_date(self) -> dt.datetime | None:
        value = self.logical_date
        if value is None or value == "":
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value

    def execute(self, context: Mapping[str, Any]) -> None:
        client = context.get("client")
        if client is None:
            raise AerovaneException(
                "TriggerDagRunOperator needs the task runtime's metadata client "
                "(context['client']), which only a task run by the scheduler has"
            )
        ti = context["ti"]
        try:
            run_id, logical = client.trigger_dag_run(
                self.trigger_dag_id,
                run_id=self.trigger_run_id or None,
                logical_date=self._logical_date(),
                conf=self.conf,
            )
        except AerovaneNotFoundException as exc:
            raise DagIsPausedOrMissing(str(exc)) from None
        except DagRunAlreadyExists:
            if self.skip_when_already_exists:
                raise AerovaneSkipException(
                    f"A run of {self.trigger_dag_id} with that id or logical date already exists"
                ) from None
            if not self.reset_dag_run or not self.trigger_run_id:
                raise
            run_id, logical = client.clear_dag_run(self.trigger_dag_id, self.trigger_run_id)
            self.log.info("Cleared existing run %s of %s", run_id, self.trigger_dag_id)
        self.log.info("Triggered %s: run %s", self.trigger_dag_id, run_id)
        ti.xcom_push(key=XCOM_RUN_ID, value=run_id)
        ti.xcom_push(key=XCOM_LOGICAL_DATE_ISO, value=logical.isoformat())
        if not self.wait_for_completion:
            return
        while True:
            self.log.info(
                "Waiting for %s on %s to become allowed state %s ...",
                self.trigger_dag_id,
                run_id,
                self.allowed_states,
            )
            time.sleep(self.poke_interval)
            state = client.dag_run_state(self.trigger_dag_id, run_id)
            if state in self.failed_states:
                raise AerovaneException(f"{self.trigger_dag_id} failed with failed states {state}")
            if state in self.allowed_states:
                self.log.info("%s finished with allowed state %s", self.trigger_dag_id, state)
                return
