"""XCom entry responses."""

from __future__ import annotations

import json
from typing import Any

from aerovane.api.v1.datamodels.common import StrictModel, iso


class XComCollectionItemResponse(StrictModel):
    key: str
    timestamp: str
    execution_date: str
    map_index: int
    task_id: str
    dag_id: str


class XComCollectionResponse(StrictModel):
    xcom_entries: list[XComCollectionItemResponse]
    total_entries: int


class XComResponse(XComCollectionItemResponse):
    value: Any


def xcom_item_to_dict(row: Any) -> dict[str, Any]:
    """An `xcom` row plus its run's logical date (`run_logical_date`), without the value."""
    return {
        "key": row.key,
        "timestamp": iso(row.timestamp),
        "execution_date": iso(row.run_logical_date),
        "map_index": row.map_index,
        "task_id": row.task_id,
        "dag_id": row.dag_id,
    }


def xcom_value(stored: str | None, *, stringify: bool) -> Any:
    """The stored JSON value as sent: decoded, and with `stringify` as Python's `str()` of it
    (what Airflow's string schema shows, e.g. `{'a': 1}`), null staying null."""
    if stored is None:
        return None
    value = json.loads(stored)
    if stringify and value is not None:
        return str(value)
    return value
