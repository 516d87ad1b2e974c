"""Datasets: registering them from parsed DAGs, recording events, and turning queued events
into dataset-triggered runs."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.types import utcnow

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG

log = logging.getLogger("aerovane.datasets")


def ensure_datasets(uris: Iterable[str], *, session: Session) -> dict[str, models.DatasetModel]:
    """Dataset rows for `uris`, created (or un-orphaned) as needed."""
    wanted = sorted(set(uris))
    if not wanted:
        return {}
    found = {
        d.uri: d
        for d in session.scalars(
            select(models.DatasetModel).where(models.DatasetModel.uri.in_(wanted))
        )
    }
    for uri in wanted:
        row = found.get(uri)
        if row is None:
            row = models.DatasetModel(uri=uri, extra={})
            session.add(row)
            found[uri] = row
        elif row.is_orphaned:
            row.is_orphaned = False
    session.flush()
    return found


def sync_dag_references(dag: SerializedDAG, *, session: Session) -> None:
    """Make the schedule and outlet references of `dag` match its serialized form."""
    schedule_uris: set[str] = set()
    condition = getattr(dag.timetable, "condition", None)
    if condition is not None:
        schedule_uris = {d.uri for d in condition.iter_datasets()}
    outlets = {(task_id, uri) for task_id, t in dag.task_dict.items() for uri in t.outlets}
    rows = ensure_datasets(schedule_uris | {uri for _, uri in outlets}, session=session)
    session.execute(
        delete(models.DagScheduleDatasetReference).where(
            models.DagScheduleDatasetReference.dag_id == dag.dag_id
        )
    )
    session.execute(
        delete(models.TaskOutletDatasetReference).where(
            models.TaskOutletDatasetReference.dag_id == dag.dag_id
        )
    )
    session.add_all(
        models.DagScheduleDatasetReference(dataset_id=rows[uri].id, dag_id=dag.dag_id)
        for uri in sorted(schedule_uris)
    )
    session.add_all(
        models.TaskOutletDatasetReference(
            dataset_id=rows[uri].id, dag_id=dag.dag_id, task_id=task_id
        )
        for task_id, uri in sorted(outlets)
    )


def register_event(
    dataset: models.DatasetModel,
    *,
    extra: dict[str, Any] | None = None,
    source_dag_id: str | None = None,
    source_task_id: str | None = None,
    source_run_id: str | None = None,
    source_map_index: int | None = -1,
    session: Session,
) -> models.DatasetEvent:
    """Record an event and queue it for every DAG scheduled on the dataset."""
    event = models.DatasetEvent(
        dataset_id=dataset.id,
        extra=extra or {},
        source_dag_id=source_dag_id,
        source_task_id=source_task_id,
        source_run_id=source_run_id,
        source_map_index=source_map_index,
        timestamp=utcnow(),
    )
    session.add(event)
    consumers = session.scalars(
        select(models.DagScheduleDatasetReference.dag_id).where(
            models.DagScheduleDatasetReference.dataset_id == dataset.id
        )
    ).all()
    queued = set(
        session.scalars(
            select(models.DatasetDagRunQueue.target_dag_id).where(
                models.DatasetDagRunQueue.dataset_id == dataset.id
            )
        )
    )
    session.add_all(
        models.DatasetDagRunQueue(dataset_id=dataset.id, target_dag_id=dag_id)
        for dag_id in consumers
        if dag_id not in queued
    )
    session.flush()
    return event


def record_outlet_events(
    uris: Iterable[str], *, dag_id: str, task_id: str, run_id: str, map_index: int, session: Session
) -> None:
    """A task succeeded: one event per outlet dataset."""
    rows = ensure_datasets(uris, session=session)
    for uri in sorted(rows):
        register_event(
            rows[uri],
            source_dag_id=dag_id,
            source_task_id=task_id,
            source_run_id=run_id,
            source_map_index=map_index,
            session=session,
        )


def create_dataset_triggered_runs(*, session: Session) -> int:
    """Create a run for every dataset-scheduled DAG whose condition the queued events meet."""
    from aerovane.authoring.timetables import DataInterval
    from aerovane.services.dag_bag import get_serialized_dag
    from aerovane.services.dag_runs import create_dag_run, generate_run_id
    from aerovane.services.errors import AlreadyExists
    from aerovane.states import DagRunType

    queue = session.execute(
        select(
            models.DatasetDagRunQueue.target_dag_id,
            models.DatasetModel.uri,
            models.DatasetDagRunQueue.dataset_id,
        )
        .join(models.DatasetModel, models.DatasetModel.id == models.DatasetDagRunQueue.dataset_id)
        .join(models.DagModel, models.DagModel.dag_id == models.DatasetDagRunQueue.target_dag_id)
        .where(models.DagModel.is_paused.is_(False), models.DagModel.is_active.is_(True))
    ).all()
    by_dag: dict[str, dict[str, int]] = {}
    for dag_id, uri, dataset_id in queue:
        by_dag.setdefault(dag_id, {})[uri] = dataset_id
    created = 0
    for dag_id, updated in by_dag.items():
        dag = get_serialized_dag(dag_id, session=session)
        condition = getattr(dag.timetable, "condition", None) if dag else None
        if dag is None or condition is None or not condition.evaluate(set(updated)):
            continue
        previous = session.scalar(
            select(models.DagRun.queued_at)
            .where(
                models.DagRun.dag_id == dag_id,
                models.DagRun.run_type == DagRunType.DATASET_TRIGGERED.value,
            )
            .order_by(models.DagRun.queued_at.desc())
            .limit(1)
        )
        query = select(models.DatasetEvent).where(
            models.DatasetEvent.dataset_id.in_(list(updated.values()))
        )
        if previous is not None:
            query = query.where(models.DatasetEvent.timestamp > previous)
        events = list(session.scalars(query.order_by(models.DatasetEvent.timestamp)))
        now = utcnow()
        start = events[0].timestamp if events else now
        end = events[-1].timestamp if events else now
        try:
            run = create_dag_run(
                dag,
                run_id=generate_run_id(DagRunType.DATASET_TRIGGERED, now),
                logical_date=now,
                data_interval=DataInterval(start, end),
                run_type=DagRunType.DATASET_TRIGGERED,
                conf=None,
                external_trigger=False,
                session=session,
            )
        except AlreadyExists:
            continue
        session.add_all(models.DagRunDatasetEvent(dag_run_id=run.id, event_id=e.id) for e in events)
        session.execute(
            delete(models.DatasetDagRunQueue).where(
                models.DatasetDagRunQueue.target_dag_id == dag_id
            )
        )
        created += 1
        log.info("dataset-triggered run %s of %s (%d events)", run.run_id, dag_id, len(events))
    return created
