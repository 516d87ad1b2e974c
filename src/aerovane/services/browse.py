"""Filtered, paginated lists for the web pages: DAG runs (a DAG's run list, Browse > DAG Runs),
task instances, a task instance's XComs, the audit log, datasets and their events.

Each page is two queries (the rows, their total) and only ever covers DAGs the caller may read.
Plain functions over a session the caller owns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from aerovane.db import models
from aerovane.services.datasets import EventFilter, dataset_event_query, dataset_query
from aerovane.services.event_logs import EventLogFilter, event_log_query
from aerovane.services.import_errors import dags_by_file, import_error_query, shown_stacktrace

MAX_PAGE_SIZE = 200
RUN_TABLE = models.DagRun.__table__
TI_TABLE = models.TaskInstance.__table__
RUN = RUN_TABLE.c
TI = TI_TABLE.c


@dataclass(frozen=True, slots=True)
class RunFilter:
    dag_id: str | None = None
    state: str | None = None
    run_type: str | None = None
    run_id_contains: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    #: DAG ids the caller may read; None means every DAG.
    readable: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Any]
    total: int
    offset: int
    limit: int


def _bounds(offset: int, limit: int) -> tuple[int, int]:
    return max(0, offset), max(1, min(limit, MAX_PAGE_SIZE))


def _runs_where(query: Any, f: RunFilter) -> Any:
    if f.readable is not None:
        query = query.where(RUN.dag_id.in_(sorted(f.readable)))
    if f.dag_id:
        query = query.where(RUN.dag_id == f.dag_id)
    if f.state:
        query = query.where(RUN.state == f.state)
    if f.run_type:
        query = query.where(RUN.run_type == f.run_type)
    if f.run_id_contains:
        query = query.where(RUN.run_id.contains(f.run_id_contains, autoescape=True))
    if f.start is not None:
        query = query.where(RUN.execution_date >= f.start)
    if f.end is not None:
        query = query.where(RUN.execution_date <= f.end)
    return query


def dag_runs_page(f: RunFilter, *, offset: int = 0, limit: int = 50, session: Any) -> Page:
    """Runs matching `f`, newest logical date first."""
    offset, limit = _bounds(offset, limit)
    total = session.scalar(_runs_where(select(func.count()).select_from(RUN_TABLE), f)) or 0
    rows = session.execute(
        _runs_where(
            select(
                RUN.dag_id,
                RUN.run_id,
                RUN.state,
                RUN.run_type,
                RUN.execution_date.label("logical_date"),
                RUN.start_date,
                RUN.end_date,
                RUN.external_trigger,
                RUN.conf,
                RUN.note,
            ),
            f,
        )
        .order_by(RUN.execution_date.desc(), RUN.dag_id)
        .offset(offset)
        .limit(limit)
    ).all()
    return Page(list(rows), total, offset, limit)


@dataclass(frozen=True, slots=True)
class TaskInstanceFilter:
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    state: str | None = None
    pool: str | None = None
    readable: Collection[str] | None = None


def task_instances_page(
    f: TaskInstanceFilter, *, offset: int = 0, limit: int = 50, session: Any
) -> Page:
    """Task instances matching `f`, newest run first, then by task and map index."""
    offset, limit = _bounds(offset, limit)

    def where(query: Any) -> Any:
        if f.readable is not None:
            query = query.where(TI.dag_id.in_(sorted(f.readable)))
        for column, value in (
            (TI.dag_id, f.dag_id),
            (TI.run_id, f.run_id),
            (TI.task_id, f.task_id),
            (TI.pool, f.pool),
        ):
            if value:
                query = query.where(column == value)
        if f.state == "none":
            query = query.where(TI.state.is_(None))
        elif f.state:
            query = query.where(TI.state == f.state)
        return query

    total = session.scalar(where(select(func.count()).select_from(TI_TABLE))) or 0
    joined = TI_TABLE.join(RUN_TABLE, (RUN.dag_id == TI.dag_id) & (RUN.run_id == TI.run_id))
    rows = session.execute(
        where(
            select(
                TI.dag_id,
                TI.run_id,
                TI.task_id,
                TI.map_index,
                TI.state,
                TI.try_number,
                TI.start_date,
                TI.end_date,
                TI.duration,
                TI.operator,
                TI.pool,
                TI.hostname,
                RUN.execution_date.label("logical_date"),
            ).select_from(joined)
        )
        .order_by(RUN.execution_date.desc(), TI.dag_id, TI.task_id, TI.map_index)
        .offset(offset)
        .limit(limit)
    ).all()
    return Page(list(rows), total, offset, limit)


XCOM = models.XCom.__table__.c


def task_instance_xcoms(
    dag_id: str, run_id: str, task_id: str, map_index: int, *, limit: int = 100, session: Any
) -> list[Any]:
    """One task instance's XComs (key, stored value, timestamp), by key; bounded."""
    return list(
        session.execute(
            select(XCOM.key, XCOM.value, XCOM.timestamp)
            .where(
                XCOM.dag_id == dag_id,
                XCOM.run_id == run_id,
                XCOM.task_id == task_id,
                XCOM.map_index == map_index,
            )
            .order_by(XCOM.key)
            .limit(limit)
        ).all()
    )


def _page_of(query: Any, order: list[Any], offset: int, limit: int, session: Any) -> Page:
    offset, limit = _bounds(offset, limit)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(*order).offset(offset).limit(limit)).all()
    return Page(list(rows), total, offset, limit)


def event_log_page(
    filters: EventLogFilter, *, offset: int = 0, limit: int = 50, session: Any
) -> Page:
    """Audit log entries matching `filters`, newest first."""
    log = models.EventLog
    return _page_of(
        event_log_query(filters), [log.dttm.desc(), log.id.desc()], offset, limit, session
    )


def dataset_page(uri_pattern: str = "", *, offset: int = 0, limit: int = 50, session: Any) -> Page:
    """Datasets whose URI contains `uri_pattern`, by URI, each with its latest event time."""
    event = models.DatasetEvent
    latest = (
        select(func.max(event.timestamp))
        .where(event.dataset_id == models.DatasetModel.id)
        .scalar_subquery()
        .label("last_event")
    )
    query = dataset_query(uri_pattern=uri_pattern or None).add_columns(latest)
    return _page_of(query, [models.DatasetModel.uri], offset, limit, session)


def dataset_events_page(
    dataset_id: int | None = None, *, offset: int = 0, limit: int = 50, session: Any
) -> Page:
    """Dataset events (of one dataset, or all), newest first, with their dataset's URI."""
    event = models.DatasetEvent
    query = dataset_event_query(EventFilter(dataset_id=dataset_id))
    return _page_of(query, [event.timestamp.desc(), event.id.desc()], offset, limit, session)


def import_errors_for(
    readable: Collection[str] | None, *, limit: int = 200, session: Any
) -> list[tuple[Any, str]]:
    """Import errors of files defining a DAG in `readable` (None: all), each with the stack
    trace the reader may see (redacted when the file also defines DAGs they may not read)."""
    rows = session.execute(
        import_error_query(readable).order_by(models.ImportErrorModel.filename).limit(limit)
    ).all()
    file_dags = dags_by_file([row.filename for row in rows], session=session)
    return [
        (row, shown_stacktrace(row, file_dags.get(row.filename, set()), readable)) for row in rows
    ]
