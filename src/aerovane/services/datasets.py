"""Datasets: registering them from parsed DAGs, recording events, and turning queued events
into dataset-triggered runs; reading datasets, events and queued events for the REST API."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, delete, exists, or_, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.notify import wake_on_commit
from aerovane.db.types import utcnow
from aerovane.services import strict_json
from aerovane.services.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from aerovane.authoring.datasets import DatasetEventInfo, TaskDatasetEvent
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


def ensure_aliases(
    names: Iterable[str], *, session: Session
) -> dict[str, models.DatasetAliasModel]:
    """Alias rows for `names`, created as needed."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    found = {
        a.name: a
        for a in session.scalars(
            select(models.DatasetAliasModel).where(models.DatasetAliasModel.name.in_(wanted))
        )
    }
    for name in wanted:
        if name not in found:
            found[name] = models.DatasetAliasModel(name=name)
            session.add(found[name])
    session.flush()
    return found


def _sync_alias_references(
    dag: SerializedDAG, schedule_aliases: set[str], *, session: Session
) -> None:
    outlet_aliases = {name for t in dag.task_dict.values() for name in t.outlet_aliases}
    aliases = ensure_aliases(schedule_aliases | outlet_aliases, session=session)
    reference = models.DagScheduleDatasetAliasReference
    session.execute(delete(reference).where(reference.dag_id == dag.dag_id))
    session.add_all(
        reference(alias_id=aliases[name].id, dag_id=dag.dag_id) for name in sorted(schedule_aliases)
    )


def sync_dag_references(dag: SerializedDAG, *, session: Session) -> None:
    """Make the schedule and outlet references of `dag` match its serialized form."""
    from aerovane.authoring.datasets import iter_aliases

    schedule_uris: set[str] = set()
    schedule_aliases: set[str] = set()
    condition = getattr(dag.timetable, "condition", None)
    if condition is not None:
        schedule_uris = {d.uri for d in condition.iter_datasets()}
        schedule_aliases = {a.name for a in iter_aliases(condition)}
    _sync_alias_references(dag, schedule_aliases, session=session)
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
    aliases: Sequence[models.DatasetAliasModel] = (),
    session: Session,
) -> models.DatasetEvent:
    """Record an event and queue it for every DAG scheduled on the dataset, or on an alias the
    event was recorded through (the alias then stands for the dataset, as in Airflow 2.10)."""
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
    consumers = set(
        session.scalars(
            select(models.DagScheduleDatasetReference.dag_id).where(
                models.DagScheduleDatasetReference.dataset_id == dataset.id
            )
        )
    )
    if aliases:
        session.flush()
        _link_aliases(dataset, event, aliases, session=session)
        consumers.update(
            session.scalars(
                select(models.DagScheduleDatasetAliasReference.dag_id).where(
                    models.DagScheduleDatasetAliasReference.alias_id.in_([a.id for a in aliases])
                )
            )
        )
    queued = set(
        session.scalars(
            select(models.DatasetDagRunQueue.target_dag_id).where(
                models.DatasetDagRunQueue.dataset_id == dataset.id
            )
        )
    )
    session.add_all(
        models.DatasetDagRunQueue(dataset_id=dataset.id, target_dag_id=dag_id)
        for dag_id in sorted(consumers)
        if dag_id not in queued
    )
    session.flush()
    return event


def _link_aliases(
    dataset: models.DatasetModel,
    event: models.DatasetEvent,
    aliases: Sequence[models.DatasetAliasModel],
    *,
    session: Session,
) -> None:
    ids = [a.id for a in aliases]
    linked = set(
        session.scalars(
            select(models.DatasetAliasDataset.alias_id).where(
                models.DatasetAliasDataset.dataset_id == dataset.id,
                models.DatasetAliasDataset.alias_id.in_(ids),
            )
        )
    )
    session.add_all(
        models.DatasetAliasDataset(alias_id=alias_id, dataset_id=dataset.id)
        for alias_id in ids
        if alias_id not in linked
    )
    session.add_all(
        models.DatasetAliasDatasetEvent(alias_id=alias_id, event_id=event.id) for alias_id in ids
    )


def record_task_events(
    events: Sequence[TaskDatasetEvent],
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    session: Session,
) -> None:
    """A task succeeded: record its dataset events (outlets, and those added through aliases;
    a dataset first named at run time is created)."""
    if not events:
        return
    rows = ensure_datasets((e.uri for e in events), session=session)
    aliases = ensure_aliases((name for e in events for name in e.aliases), session=session)
    for event in events:
        register_event(
            rows[event.uri],
            extra=event.extra,
            source_dag_id=dag_id,
            source_task_id=task_id,
            source_run_id=run_id,
            source_map_index=map_index,
            aliases=[aliases[name] for name in event.aliases],
            session=session,
        )


def read_events(
    *,
    uri: str | None = None,
    alias: str | None = None,
    dag_run_id: int | None = None,
    session: Session,
) -> list[DatasetEventInfo]:
    """The events of a dataset, those recorded through an alias, or those that triggered a run,
    oldest first (a task's `inlet_events` and `triggering_dataset_events`)."""
    from aerovane.authoring.datasets import DatasetEventInfo

    event = models.DatasetEvent
    query = select(event, models.DatasetModel.uri).join(
        models.DatasetModel, models.DatasetModel.id == event.dataset_id
    )
    if alias is not None:
        query = query.join(
            models.DatasetAliasDatasetEvent, models.DatasetAliasDatasetEvent.event_id == event.id
        ).join(
            models.DatasetAliasModel,
            (models.DatasetAliasModel.id == models.DatasetAliasDatasetEvent.alias_id)
            & (models.DatasetAliasModel.name == alias),
        )
    elif dag_run_id is not None:
        query = query.join(
            models.DagRunDatasetEvent, models.DagRunDatasetEvent.event_id == event.id
        ).where(models.DagRunDatasetEvent.dag_run_id == dag_run_id)
    else:
        query = query.where(models.DatasetModel.uri == uri)
    rows = session.execute(query.order_by(event.timestamp, event.id)).all()
    ids = [row[0].id for row in rows]
    names: dict[int, list[str]] = defaultdict(list)
    if ids:
        for event_id, name in session.execute(
            select(models.DatasetAliasDatasetEvent.event_id, models.DatasetAliasModel.name)
            .join(
                models.DatasetAliasModel,
                models.DatasetAliasModel.id == models.DatasetAliasDatasetEvent.alias_id,
            )
            .where(models.DatasetAliasDatasetEvent.event_id.in_(ids))
            .order_by(models.DatasetAliasModel.name)
        ):
            names[event_id].append(name)
    return [
        DatasetEventInfo(
            id=row.id,
            dataset_uri=dataset_uri,
            extra=dict(row.extra or {}),
            source_dag_id=row.source_dag_id,
            source_task_id=row.source_task_id,
            source_run_id=row.source_run_id,
            source_map_index=row.source_map_index,
            timestamp=row.timestamp,
            source_aliases=tuple(names[row.id]),
        )
        for row, dataset_uri in rows
    ]


def _alias_keys(dataset_ids: Iterable[int], *, session: Session) -> dict[int, set[str]]:
    """Per dataset, the `evaluate` keys of the aliases that stand for it (one query)."""
    from aerovane.authoring.datasets import ALIAS_KEY_PREFIX

    keys: dict[int, set[str]] = defaultdict(set)
    ids = sorted(set(dataset_ids))
    if not ids:
        return keys
    link = models.DatasetAliasDataset
    for dataset_id, name in session.execute(
        select(link.dataset_id, models.DatasetAliasModel.name)
        .join(models.DatasetAliasModel, link.alias_id == models.DatasetAliasModel.id)
        .where(link.dataset_id.in_(ids))
    ):
        keys[dataset_id].add(ALIAS_KEY_PREFIX + name)
    return keys


def create_dataset_triggered_runs(*, session: Session) -> int:
    """Create a run for every dataset-scheduled DAG whose condition the queued events meet."""
    from aerovane.authoring.timetables import DataInterval
    from aerovane.db.engine import is_postgres
    from aerovane.services.dag_bag import get_serialized_dag
    from aerovane.services.dag_runs import create_dag_run, generate_run_id
    from aerovane.services.errors import AlreadyExists
    from aerovane.states import DagRunType

    query = (
        select(
            models.DatasetDagRunQueue.target_dag_id,
            models.DatasetModel.uri,
            models.DatasetDagRunQueue.dataset_id,
        )
        .join(models.DatasetModel, models.DatasetModel.id == models.DatasetDagRunQueue.dataset_id)
        .join(models.DagModel, models.DagModel.dag_id == models.DatasetDagRunQueue.target_dag_id)
        .where(models.DagModel.is_paused.is_(False), models.DagModel.is_active.is_(True))
    )
    if is_postgres(session):
        # Several schedulers: the DAG's row is the lock, so one of them creates its run.
        query = query.with_for_update(of=models.DagModel, skip_locked=True)
    queue = session.execute(query).all()
    by_dag: dict[str, dict[str, int]] = {}
    for dag_id, uri, dataset_id in queue:
        by_dag.setdefault(dag_id, {})[uri] = dataset_id
    created = 0
    alias_keys = _alias_keys((dataset_id for _, _, dataset_id in queue), session=session)
    for dag_id, updated in by_dag.items():
        dag = get_serialized_dag(dag_id, session=session)
        condition = getattr(dag.timetable, "condition", None) if dag else None
        keys = set(updated).union(*(alias_keys[i] for i in updated.values()))
        if dag is None or condition is None or not condition.evaluate(keys):
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


# -- reading, events from outside, queued events (the REST API) ---------------------------------


def dataset_query(*, uri_pattern: str | None = None, dag_ids: Sequence[str] = ()) -> Select[Any]:
    """Datasets whose URI contains `uri_pattern` (case-insensitive; `%` and `_` are wildcards,
    as in Airflow) and that one of `dag_ids` consumes or produces."""
    query = select(*models.DatasetModel.__table__.columns)
    if uri_pattern:
        query = query.where(models.DatasetModel.uri.ilike(f"%{uri_pattern}%"))
    if dag_ids:
        consumed = exists().where(
            models.DagScheduleDatasetReference.dataset_id == models.DatasetModel.id,
            models.DagScheduleDatasetReference.dag_id.in_(list(dag_ids)),
        )
        produced = exists().where(
            models.TaskOutletDatasetReference.dataset_id == models.DatasetModel.id,
            models.TaskOutletDatasetReference.dag_id.in_(list(dag_ids)),
        )
        query = query.where(or_(consumed, produced))
    return query


def get_dataset(uri: str, *, session: Session) -> Any:
    row = session.execute(dataset_query().where(models.DatasetModel.uri == uri)).first()
    if row is None:
        raise NotFound(f"The Dataset with uri: `{uri}` was not found")
    return row


def dataset_references(
    dataset_ids: Iterable[int], *, session: Session
) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
    """(consuming DAG references, producing task references) per dataset id, two queries."""
    ids = sorted(set(dataset_ids))
    consuming: dict[int, list[Any]] = defaultdict(list)
    producing: dict[int, list[Any]] = defaultdict(list)
    if not ids:
        return consuming, producing
    schedule = models.DagScheduleDatasetReference
    for row in session.execute(
        select(*schedule.__table__.columns)
        .where(schedule.dataset_id.in_(ids))
        .order_by(schedule.dataset_id, schedule.dag_id)
    ):
        consuming[row.dataset_id].append(row)
    outlet = models.TaskOutletDatasetReference
    for row in session.execute(
        select(*outlet.__table__.columns)
        .where(outlet.dataset_id.in_(ids))
        .order_by(outlet.dataset_id, outlet.dag_id, outlet.task_id)
    ):
        producing[row.dataset_id].append(row)
    return consuming, producing


@dataclass(frozen=True, slots=True)
class EventFilter:
    dataset_id: int | None = None
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None


def dataset_event_query(filters: EventFilter = EventFilter()) -> Select[Any]:
    """Events with their dataset's URI (`dataset_uri`), narrowed by every set filter."""
    event = models.DatasetEvent
    query = select(*event.__table__.columns, models.DatasetModel.uri.label("dataset_uri")).join(
        models.DatasetModel, models.DatasetModel.id == event.dataset_id
    )
    for column, value in (
        (event.dataset_id, filters.dataset_id),
        (event.source_dag_id, filters.source_dag_id),
        (event.source_task_id, filters.source_task_id),
        (event.source_run_id, filters.source_run_id),
        (event.source_map_index, filters.source_map_index),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def created_dagruns(event_ids: Iterable[int], *, session: Session) -> dict[int, list[Any]]:
    """The runs each event triggered (`dagrun_dataset_event`), one query for all events."""
    ids = sorted(set(event_ids))
    runs: dict[int, list[Any]] = defaultdict(list)
    if not ids:
        return runs
    link = models.DagRunDatasetEvent
    run = models.DagRun
    query = (
        select(
            link.event_id,
            run.run_id,
            run.dag_id,
            run.logical_date,
            run.start_date,
            run.end_date,
            run.state,
            run.data_interval_start,
            run.data_interval_end,
        )
        .join(run, run.id == link.dag_run_id)
        .where(link.event_id.in_(ids))
        .order_by(link.event_id, run.id)
    )
    for row in session.execute(query):
        runs[row.event_id].append(row)
    return runs


def create_event(
    uri: str, extra: dict[str, Any] | None, *, session: Session
) -> tuple[models.DatasetEvent, str]:
    """An event on an existing dataset from outside any task (marked `from_rest_api`, as Airflow
    does); DAGs scheduled on the dataset get it queued like any other event."""
    try:
        strict_json.check(extra)
    except strict_json.InvalidJson as exc:
        raise BadRequest(f"extra is not valid JSON: {exc}") from None
    dataset = session.scalar(select(models.DatasetModel).where(models.DatasetModel.uri == uri))
    if dataset is None:
        raise NotFound(f"Dataset with uri: '{uri}' not found")
    event = register_event(dataset, extra={**(extra or {}), "from_rest_api": True}, session=session)
    wake_on_commit(session, "scheduler")
    return event, dataset.uri


def _queued_where(
    *,
    dag_id: str | None,
    uri: str | None,
    before: dt.datetime | None,
    dag_ids: Collection[str] | None,
) -> list[ColumnElement[bool]]:
    queue = models.DatasetDagRunQueue
    where: list[ColumnElement[bool]] = []
    if dag_id is not None:
        where.append(queue.target_dag_id == dag_id)
    if uri is not None:
        where.append(
            queue.dataset_id.in_(
                select(models.DatasetModel.id).where(models.DatasetModel.uri == uri)
            )
        )
    if before is not None:
        where.append(queue.created_at < before)
    if dag_ids is not None:
        where.append(queue.target_dag_id.in_(sorted(dag_ids)))
    return where


def queued_events(
    *,
    dag_id: str | None = None,
    uri: str | None = None,
    before: dt.datetime | None = None,
    dag_ids: Collection[str] | None = None,
    session: Session,
) -> list[Any]:
    """Queued events (`uri`, `dag_id`, `created_at`) of a DAG and/or a dataset, created before
    `before`, for DAGs in `dag_ids` (None: any). At most one per (dataset, DAG) pair."""
    queue = models.DatasetDagRunQueue
    query = (
        select(
            models.DatasetModel.uri,
            queue.target_dag_id.label("dag_id"),
            queue.created_at,
        )
        .join(models.DatasetModel, models.DatasetModel.id == queue.dataset_id)
        .where(*_queued_where(dag_id=dag_id, uri=uri, before=before, dag_ids=dag_ids))
        .order_by(queue.target_dag_id, models.DatasetModel.uri)
    )
    return list(session.execute(query))


def delete_queued_events(
    *,
    dag_id: str | None = None,
    uri: str | None = None,
    before: dt.datetime | None = None,
    dag_ids: Collection[str] | None = None,
    session: Session,
) -> int:
    """Delete what `queued_events` would list; returns how many were deleted."""
    where = _queued_where(dag_id=dag_id, uri=uri, before=before, dag_ids=dag_ids)
    result = session.execute(delete(models.DatasetDagRunQueue).where(*where))
    return int(getattr(result, "rowcount", 0) or 0)
