"""Event log (audit log) responses."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aerovane.api.v1.datamodels.common import StrictModel, iso


class EventLogResponse(StrictModel):
    event_log_id: int
    when: dt.datetime
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None
    event: str
    execution_date: dt.datetime | None
    owner: str | None
    extra: str | None


class EventLogCollectionResponse(StrictModel):
    event_logs: list[EventLogResponse]
    total_entries: int


def event_log_to_dict(row: Any) -> dict[str, Any]:
    """A `log` row as an EventLog."""
    return {
        "event_log_id": row.id,
        "when": iso(row.dttm),
        "dag_id": row.dag_id,
        "task_id": row.task_id,
        "run_id": row.run_id,
        "map_index": row.map_index,
        "try_number": row.try_number,
        "event": row.event,
        "execution_date": iso(row.execution_date),
        "owner": row.owner,
        "extra": row.extra,
    }
