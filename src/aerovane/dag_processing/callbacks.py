"""Runs in a forked child of the DAG processor: one callback request.

A DAG callback imports the DAG file, builds Airflow's callback context (the context of the
run's relevant task instance: the last failed one for a failure, the last finished one for a
success, plus `reason`) and calls the DAG's `on_failure_callback` / `on_success_callback` (one
or a list). An SLA callback calls `sla_miss_callback(dag, task_list, blocking_task_list, slas,
blocking_tis)` for the DAG's unnotified misses and mails the missed tasks' `email`, then marks
them notified/emailed. Output goes to `{base_log_folder}/dag_processor_callbacks/<dag_id>.log`.
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
    from aerovane.runtime.task_runner import _open_log

    settings = get_settings()
    dag_id = payload["dag_id"]
    # The same secret-masking log writer as task attempts: callbacks are user code too.
    callback_log = _open_log(
        str(settings.base_log_folder / "dag_processor_callbacks" / f"{dag_id}.log")
    )
    try:
        if payload.get("callback_type") == "SlaCallbackRequest":
            _run_sla(payload, settings.dags_folder)
        else:
            _run(payload, settings.dags_folder)
    except BaseException:  # noqa: BLE001 - a failing DAG file or callback is only logged
        log.error("DAG callback for %s failed:\n%s", dag_id, traceback.format_exc())
    finally:
        callback_log.close()
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


def _run_sla(payload: dict[str, Any], dags_folder: Path) -> None:
    import html

    from sqlalchemy import select, update

    from aerovane.authoring.email import send_email
    from aerovane.dag_processing.importer import import_dag_file
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.states import TaskState

    dag_id = payload["dag_id"]
    dags, _ = import_dag_file(payload["fileloc"], dags_folder)
    dag = dags.get(dag_id)
    if dag is None:
        raise LookupError(f"DAG {dag_id!r} is no longer in {payload['fileloc']}")
    SM, TI, DR = models.SlaMiss, models.TaskInstance, models.DagRun
    with create_session() as session:
        slas = list(
            session.scalars(
                select(SM)
                .where(SM.dag_id == dag_id)
                .where((SM.notification_sent.is_(False)) | (SM.email_sent.is_(False)))
                .order_by(SM.execution_date, SM.task_id)
            )
        )
        if not slas:
            return
        dates = sorted({s.execution_date for s in slas})
        blocking_tis = [
            ti
            for ti in session.scalars(
                select(TI)
                .join(DR, (DR.dag_id == TI.dag_id) & (DR.run_id == TI.run_id))
                .where(
                    TI.dag_id == dag_id,
                    DR.logical_date.in_(dates),
                    (TI.state.is_(None)) | (TI.state != TaskState.SUCCESS.value),
                )
            )
            if ti.task_id in dag.task_dict
        ]
        logical = {
            (r.run_id): r.logical_date
            for r in session.execute(
                select(DR.run_id, DR.logical_date).where(
                    DR.dag_id == dag_id, DR.logical_date.in_(dates)
                )
            )
        }
        task_list = "\n".join(f"{s.task_id} on {s.execution_date.isoformat()}" for s in slas)
        blocking_task_list = "\n".join(
            f"{ti.task_id} on {logical[ti.run_id].isoformat()}" for ti in blocking_tis
        )
        pending_callback = [s for s in slas if not s.notification_sent]
        if dag.sla_miss_callback and pending_callback:
            callbacks = dag.sla_miss_callback
            for callback in callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]:
                try:
                    callback(dag, task_list, blocking_task_list, slas, blocking_tis)
                except Exception:
                    log.exception(
                        "Could not call sla_miss_callback(%s) for DAG %s", callback, dag_id
                    )
        keys = [(s.task_id, s.execution_date) for s in slas]
        emails: list[str] = []
        for s in slas:
            if s.email_sent or s.task_id not in dag.task_dict:
                continue
            address = dag.task_dict[s.task_id].email
            if address:
                emails.extend([address] if isinstance(address, str) else list(address))
        emailed = False
        if emails:
            body = (
                "Here's a list of tasks that missed their SLAs:<pre><code>"
                f"{html.escape(task_list)}\n</code></pre>Blocking tasks:<pre><code>"
                f"{html.escape(blocking_task_list)}</code></pre>"
            )
            try:
                send_email(sorted(set(emails)), f"[airflow] SLA miss on DAG={dag_id}", body)
                emailed = True
            except Exception:
                log.exception("Could not send SLA Miss email notification for DAG %s", dag_id)
        for task_id, date in keys:
            values: dict[str, Any] = {"notification_sent": True}
            if emailed:
                values["email_sent"] = True
            session.execute(
                update(SM)
                .where(SM.dag_id == dag_id, SM.task_id == task_id, SM.execution_date == date)
                .values(**values)
            )
