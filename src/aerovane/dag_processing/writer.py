"""Storing a file's parse result: DAG rows, serialized DAGs, source, tags and import errors."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.types import utcnow
from aerovane.services.datasets import sync_dag_references

log = logging.getLogger("aerovane.dag_processor")


def fileloc_hash(path: str) -> int:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:7], "big")


def store_parse_result(
    path: str, dags: list[dict[str, Any]], error: str | None, *, session: Session
) -> None:
    from aerovane.authoring.serialization import SerializedDAG
    from aerovane.scheduler.runs import set_next_dagrun

    now = utcnow()
    session.execute(delete(models.ImportErrorModel).where(models.ImportErrorModel.filename == path))
    if error is not None:
        session.add(models.ImportErrorModel(filename=path, stacktrace=error, timestamp=now))
        session.execute(
            update(models.DagModel)
            .where(models.DagModel.fileloc == path)
            .values(has_import_errors=True)
        )
        return

    seen: set[str] = set()
    duplicate_errors: list[str] = []
    for data in dags:
        dag = SerializedDAG.from_dict(data)
        row = session.get(models.DagModel, dag.dag_id)
        if row is not None and row.is_active and row.fileloc != path and Path(row.fileloc).exists():
            duplicate_errors.append(
                f"DagDuplicatedIdException: Ignoring DAG {dag.dag_id} from {path} - "
                f"also found in {row.fileloc}"
            )
            continue
        seen.add(dag.dag_id)
        if row is None:
            paused = dag.is_paused_upon_creation
            if paused is None:
                paused = get_settings().getboolean("core", "dags_are_paused_at_creation")
            row = models.DagModel(dag_id=dag.dag_id, is_paused=paused)
            session.add(row)
        stored = session.get(models.SerializedDagModel, dag.dag_id)
        schedule_changed = stored is None or stored.data.get("timetable") != data["timetable"]
        row.fileloc = path
        row.is_active = True
        row.has_import_errors = False
        row.last_parsed_time = now
        row.owners = ", ".join(dag.owners)
        row.description = dag.description
        row.dag_display_name = dag.dag_display_name
        row.schedule_interval = dag.timetable.schedule_interval_json()
        row.timetable_description = dag.timetable.description
        row.max_active_tasks = dag.max_active_tasks
        row.max_active_runs = dag.max_active_runs
        row.has_task_concurrency_limits = dag.has_task_concurrency_limits
        wanted_tags = set(dag.tags)
        row.tags = [t for t in row.tags if t.name in wanted_tags] + [
            models.DagTag(name=name, dag_id=dag.dag_id)
            for name in sorted(wanted_tags - {t.name for t in row.tags})
        ]
        dag_changed = stored is None or stored.dag_hash != dag.dag_hash
        if stored is None:
            session.add(
                models.SerializedDagModel(
                    dag_id=dag.dag_id,
                    fileloc=path,
                    data=data,
                    dag_hash=dag.dag_hash,
                    last_updated=now,
                )
            )
        elif stored.dag_hash != dag.dag_hash:
            stored.data, stored.dag_hash, stored.fileloc, stored.last_updated = (
                data,
                dag.dag_hash,
                path,
                now,
            )
        row.dataset_expression = dag.dataset_expression
        sync_dag_references(dag, session=session)
        if dag_changed or dag.access_control:
            permission_error = _sync_dag_permissions(dag, session=session)
            if permission_error is not None:
                row.has_import_errors = True
                session.add(
                    models.ImportErrorModel(
                        filename=path, stacktrace=permission_error, timestamp=now
                    )
                )
        if schedule_changed or row.next_dagrun_create_after is None:
            set_next_dagrun(row, dag, last_interval=_last_automated_interval(dag.dag_id, session))
    for message in duplicate_errors:
        session.add(models.ImportErrorModel(filename=path, stacktrace=message, timestamp=now))
    # DAGs this file used to define and no longer does.
    session.execute(
        update(models.DagModel)
        .where(models.DagModel.fileloc == path, models.DagModel.dag_id.not_in(seen or {""}))
        .values(is_active=False)
    )
    _store_source(path, session=session)


def _sync_dag_permissions(dag: Any, *, session: Session) -> str | None:
    """Create the DAG's per-DAG permissions and apply its `access_control`, as Airflow does when
    it writes a serialized DAG; an invalid mapping is reported like an import error."""
    from sqlalchemy.exc import IntegrityError

    from aerovane.auth.roles import sync_dag_permissions
    from aerovane.services.errors import BadRequest

    for attempt in range(2):
        try:
            with session.begin_nested():
                sync_dag_permissions(dag.dag_id, dag.access_control, session=session)
            return None
        except BadRequest as exc:
            log.warning("DAG %s: %s", dag.dag_id, exc)
            return f"AirflowException: {exc}"
        except IntegrityError:
            # Another processor created the same permission rows at the same time.
            if attempt:
                raise
    return None


def _last_automated_interval(dag_id: str, session: Session) -> object | None:
    from aerovane.authoring.timetables import DataInterval

    row = session.execute(
        select(models.DagRun.data_interval_start, models.DagRun.data_interval_end)
        .where(
            models.DagRun.dag_id == dag_id, models.DagRun.run_type.in_(("scheduled", "backfill"))
        )
        .order_by(models.DagRun.logical_date.desc())
        .limit(1)
    ).first()
    if row is None or row[0] is None:
        return None
    return DataInterval(row[0], row[1])


def _store_source(path: str, *, session: Session) -> None:
    try:
        source = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    key = fileloc_hash(path)
    row = session.get(models.DagCode, key)
    if row is None:
        session.add(models.DagCode(fileloc_hash=key, fileloc=path, source_code=source))
    elif row.source_code != source:
        row.source_code, row.last_updated = source, utcnow()


def deactivate_missing_files(existing: set[str], *, session: Session) -> None:
    """DAGs whose file is gone stop being active; their import errors go too."""
    rows = session.execute(
        select(models.DagModel.dag_id, models.DagModel.fileloc).where(models.DagModel.is_active)
    ).all()
    gone = [dag_id for dag_id, fileloc in rows if fileloc not in existing]
    if gone:
        session.execute(
            update(models.DagModel).where(models.DagModel.dag_id.in_(gone)).values(is_active=False)
        )
    errors = session.execute(select(models.ImportErrorModel.id, models.ImportErrorModel.filename))
    stale = [i for i, filename in errors if filename not in existing]
    if stale:
        session.execute(
            delete(models.ImportErrorModel).where(models.ImportErrorModel.id.in_(stale))
        )
