"""The audit log (`log` table) as a filtered query, and single entries.

Rows are written elsewhere (the API's audit dependency, the CLI, task runs); this module only
reads them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.services.errors import NotFound

LOG_COLUMNS = tuple(models.EventLog.__table__.columns)


@dataclass(frozen=True, slots=True)
class EventLogFilter:
    """Each set field narrows the result; `before`/`after` are exclusive bounds."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    event: str | None = None
    owner: str | None = None
    before: dt.datetime | None = None
    after: dt.datetime | None = None
    included_events: Sequence[str] = field(default_factory=tuple)
    excluded_events: Sequence[str] = field(default_factory=tuple)


def event_log_query(filters: EventLogFilter) -> Select[Any]:
    log = models.EventLog
    query = select(*LOG_COLUMNS)
    equal = (
        (log.dag_id, filters.dag_id),
        (log.task_id, filters.task_id),
        (log.run_id, filters.run_id),
        (log.map_index, filters.map_index),
        (log.try_number, filters.try_number),
        (log.event, filters.event),
        (log.owner, filters.owner),
    )
    for column, value in equal:
        if value is not None:
            query = query.where(column == value)
    if filters.included_events:
        query = query.where(log.event.in_(list(filters.included_events)))
    if filters.excluded_events:
        query = query.where(log.event.not_in(list(filters.excluded_events)))
    if filters.before is not None:
        query = query.where(log.dttm < filters.before)
    if filters.after is not None:
        query = query.where(log.dttm > filters.after)
    return query


def get_event_log(event_log_id: int, *, session: Session) -> Any:
    row = session.execute(select(*LOG_COLUMNS).where(models.EventLog.id == event_log_id)).first()
    if row is None:
        raise NotFound(f"The Event Log with event_log_id: `{event_log_id}` was not found")
    return row
