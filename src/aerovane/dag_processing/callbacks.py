"""Runs in a forked child of the DAG processor: one DAG-level callback request.

Imports the DAG file, builds Airflow's callback context (the context of the run's relevant
task instance: the last failed one for a failure, the last finished one for a success, plus
`reason`) and calls the DAG's `on_failure_callback` / `on_success_callback` (one or a list).
Output goes to `{base_log_folder}/dag_processor_callbacks/<dag_id>.log`.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from pathlib import Path
from typing import Any

log = logging.getLogger("aerovane.dag_processing.callbacks")


def run_dag_callback(payload: dict[str, Any]) -> int:
    from aerovane.config import get_settings
    from aerovane.runtime.task_runner import _redirect_output

    settings = get_settings()
    dag_id = payload["dag_id"]
    _redirect_output(str(settings.base_log_folder / "dag_processor_callbacks" / f"{dag_id}.log"))
    try:
        _run(payload, settings.dags_folder)
    except BaseException:  # noqa: BLE001 - a failing DAG file or callback is only logged
        log.error("DAG callback for %s failed:\n%s", dag_id, traceback.format_exc())
    return 0


def _run(payload: dict[str, Any], dags_folder: Path) -> None:
    from sqlalchemy import select

    from aerovane.authoring.context import build_context
    from aerovane.dag_processing.importer import import_dag_file
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.runtime.task_instance import RuntimeTaskInstance
    from aerovane.states import TaskState

    dag_id, run_id = payload["dag_id"], payload["run_id"]
    is_failure = bool(payload["is_failure_callback"])
    dags, _ = import_dag_file(payload["fileloc"], dags_folder)
    dag = dags.get(dag_id)
    if dag is None:
        raise LookupError(f"DAG {dag_id!r} is no longer in {payload['fileloc']}")
    callbacks = dag.on_failure_callback if is_failure else dag.on_success_callback
    if not callbacks:
        return
    with create_session(readonly=True) as session:
        run = session.scalar(
            select(models.DagRun).where(
                models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
            )
        )
        if run is None:
            raise LookupError(f"run {run_id!r} of {dag_id!r} no longer exists")
        query = select(models.TaskInstance).where(
            models.TaskInstance.dag_id == dag_id, models.TaskInstance.run_id == run_id
        )
        if is_failure:
            query = query.where(models.TaskInstance.state == TaskState.FAILED.value)
        rows = [r for r in session.scalars(query) if r.task_id in dag.task_dict]
        session.expunge_all()
    rows.sort(key=lambda r: r.end_date or dt.datetime.min.replace(tzinfo=dt.UTC))
    context: dict[str, Any]
    if rows:
        row = rows[-1]
        task = dag.task_dict[row.task_id]
        ti = RuntimeTaskInstance(row, run, task)
        context = build_context(dag=dag, task=task, ti=ti, dag_run=run, params=None)
    else:
        context = {"dag": dag, "dag_run": run, "run_id": run_id}
    context["reason"] = payload.get("msg", "")
    name = "on_failure_callback" if is_failure else "on_success_callback"
    log.info("Running %s of %s for run %s (%s)", name, dag_id, run_id, context["reason"])
    for callback in callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]:
        try:
            callback(context)
        except Exception:
            log.exception("Error when executing %s of %s", name, dag_id)
