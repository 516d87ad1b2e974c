"""DAGs as a whole: pausing many at once, deleting one with everything recorded about it, and
what is derived from the parsed DAGs (details, source, run statistics, warnings).

Plain functions over a session the caller owns (never committed here), shared by the API and the
CLI. Nothing here imports user DAG files: DAGs are read in their serialized form.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.notify import wake_on_commit
from aerovane.services.dag_bag import get_serialized_dag
from aerovane.services.errors import NotFound, ServiceError
from aerovane.states import DagRunState, TaskState

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG

#: Airflow's `DagWarningType.NONEXISTENT_POOL`.
NONEXISTENT_POOL = "non-existent pool"
_CHUNK = 500


class TaskInstancesStillRunning(ServiceError):
    """The DAG cannot be deleted while any of its task instances runs (HTTP 409)."""

    title = "Conflict"


def set_paused(dag_ids: Collection[str], is_paused: bool, *, session: Session) -> None:
    ids = sorted(dag_ids)
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            update(models.DagModel)
            .where(models.DagModel.dag_id.in_(ids[start : start + _CHUNK]))
            .values(is_paused=is_paused)
        )
    if ids and not is_paused:
        # An unpaused DAG may be due a run now; don't make it wait for the idle poll.
        wake_on_commit(session, "scheduler")


def delete_dag(dag_id: str, *, keep_records_in_log: bool = True, session: Session) -> int:
    """Delete every row about `dag_id` (runs, task instances, tries, XComs, tags, serialized
    form, dataset references, ...) and the import errors of its file, as Airflow's
    `delete_dag` does; the audit log is kept unless asked otherwise. Returns the row count.

    The DAG processor adds the DAG again the next time it parses the file, if the file still
    defines it (Airflow behaves the same).
    """
    running = session.scalar(
        select(models.TaskInstance.task_id)
        .where(
            models.TaskInstance.dag_id == dag_id,
            models.TaskInstance.state == TaskState.RUNNING.value,
        )
        .limit(1)
    )
    if running is not None:
        raise TaskInstancesStillRunning(
            f"Task instances of dag with id: '{dag_id}' are still running"
        )
    fileloc = session.scalar(
        select(models.DagModel.fileloc).where(models.DagModel.dag_id == dag_id)
    )
    if fileloc is None:
        raise NotFound(f"Dag with id: '{dag_id}' not found")
    count = 0
    # Dependent tables first, so no foreign key is ever violated on the way.
    for table in reversed(models.Base.metadata.sorted_tables):
        if keep_records_in_log and table.name == models.EventLog.__tablename__:
            continue
        column = table.columns.get("dag_id")
        if column is None:
            column = table.columns.get("target_dag_id")
        if column is None:
            continue
        count += session.execute(delete(table).where(column == dag_id)).rowcount or 0
    session.execute(
        delete(models.ImportErrorModel).where(models.ImportErrorModel.filename == fileloc)
    )
    return count


def clear_serialized_dags(*, session: Session) -> int:
    """Forget every serialized DAG (`dags reserialize --clear-only`); the DAG processor writes
    them again as it parses the files. The number of rows removed."""
    return session.execute(delete(models.SerializedDagModel)).rowcount or 0


def active_dag_ids(*, session: Session) -> list[str]:
    """Ids of the DAGs whose files still define them, sorted."""
    query = select(models.DagModel.dag_id).where(models.DagModel.is_active)
    return list(session.scalars(query.order_by(models.DagModel.dag_id)))


def get_dag_with_model(dag_id: str, *, session: Session) -> tuple[models.DagModel, SerializedDAG]:
    """The DAG's row and its parsed (serialized) form; NotFound unless both exist."""
    dag_model = session.get(models.DagModel, dag_id)
    dag = get_serialized_dag(dag_id, session=session) if dag_model is not None else None
    if dag_model is None or dag is None:
        raise NotFound(f"The DAG with dag_id: {dag_id} was not found")
    return dag_model, dag


def dag_ids_in_file(fileloc: str, *, session: Session) -> list[str]:
    return list(
        session.scalars(
            select(models.DagModel.dag_id)
            .where(models.DagModel.fileloc == fileloc)
            .order_by(models.DagModel.dag_id)
        )
    )


def get_dag_source(fileloc: str, *, session: Session) -> str:
    """The source of a DAG file as the DAG processor last stored it."""
    source = session.scalar(
        select(models.DagCode.source_code).where(models.DagCode.fileloc == fileloc).limit(1)
    )
    if source is None:
        raise NotFound("Dag source not found")
    return source


def dag_run_stats(dag_ids: Iterable[str] | None, *, session: Session) -> dict[str, dict[str, int]]:
    """For each of `dag_ids` (None: every DAG) that exists: the number of its runs in each run
    state (every state listed, zeros included), in dag_id order. Two queries per 500 DAGs."""
    run = models.DagRun
    if dag_ids is None:
        wanted = list(session.scalars(select(models.DagModel.dag_id)))
    else:
        wanted = list(dag_ids)
    wanted = sorted(set(wanted))
    existing: list[str] = []
    counts: dict[tuple[str, str], int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        if dag_ids is None:
            existing.extend(chunk)
        else:
            existing.extend(
                session.scalars(
                    select(models.DagModel.dag_id).where(models.DagModel.dag_id.in_(chunk))
                )
            )
        rows = session.execute(
            select(run.dag_id, run.state, func.count())
            .where(run.dag_id.in_(chunk))
            .group_by(run.dag_id, run.state)
        )
        counts.update({(dag_id, state): n for dag_id, state, n in rows})
    return {
        dag_id: {state.value: counts.get((dag_id, state.value), 0) for state in DagRunState}
        for dag_id in sorted(existing)
    }


# -- warnings -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DagWarning:
    dag_id: str
    warning_type: str
    message: str
    timestamp: dt.datetime


_pools_lock = threading.Lock()
_pools_cache: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()
_POOLS_CACHE_MAX = 4096


def _task_pools(data: dict[str, Any]) -> frozenset[str]:
    return frozenset(task.get("pool") or "default_pool" for task in data.get("tasks", ()))


def _pools_by_dag(
    versions: list[tuple[str, str]], *, session: Session
) -> dict[str, frozenset[str]]:
    """The pools each DAG version's tasks use; a version is read from the database once."""
    found: dict[str, frozenset[str]] = {}
    missing: list[str] = []
    with _pools_lock:
        for dag_id, dag_hash in versions:
            pools = _pools_cache.get((dag_id, dag_hash))
            if pools is None:
                missing.append(dag_id)
            else:
                found[dag_id] = pools
    serialized = models.SerializedDagModel
    for start in range(0, len(missing), _CHUNK):
        rows = session.execute(
            select(serialized.dag_id, serialized.dag_hash, serialized.data).where(
                serialized.dag_id.in_(missing[start : start + _CHUNK])
            )
        )
        for dag_id, dag_hash, data in rows:
            pools = _task_pools(data or {})
            found[dag_id] = pools
            with _pools_lock:
                _pools_cache[(dag_id, dag_hash)] = pools
                while len(_pools_cache) > _POOLS_CACHE_MAX:
                    _pools_cache.popitem(last=False)
    return found


def dag_warnings(*, dag_ids: Collection[str] | None = None, session: Session) -> list[DagWarning]:
    """Warnings about active DAGs, computed from what is stored now (Aerovane keeps no warning
    table): a DAG whose tasks use a pool that does not exist gets Airflow's "non-existent pool"
    warning, stamped with the DAG's last parse time. `dag_ids` None means every DAG."""
    dag = models.DagModel
    serialized = models.SerializedDagModel
    query = (
        select(dag.dag_id, serialized.dag_hash, dag.last_parsed_time, serialized.last_updated)
        .join(serialized, serialized.dag_id == dag.dag_id)
        .where(dag.is_active.is_(True))
        .order_by(dag.dag_id)
    )
    rows: list[tuple[str, str, dt.datetime | None, dt.datetime]] = []
    if dag_ids is None:
        rows.extend(session.execute(query))
    else:
        wanted = sorted(dag_ids)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows.extend(session.execute(query.where(dag.dag_id.in_(chunk))))
    if not rows:
        return []
    pools_by_dag = _pools_by_dag([(row[0], row[1]) for row in rows], session=session)
    existing_pools = set(session.scalars(select(models.Pool.pool)))
    warnings = []
    for dag_id, _, parsed_at, updated_at in rows:
        unknown = pools_by_dag.get(dag_id, frozenset()) - existing_pools
        if unknown:
            warnings.append(
                DagWarning(
                    dag_id=dag_id,
                    warning_type=NONEXISTENT_POOL,
                    message=f"Dag '{dag_id}' references non-existent pools: {sorted(unknown)!r}",
                    timestamp=parsed_at or updated_at,
                )
            )
    return warnings
