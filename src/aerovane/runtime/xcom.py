"""XCom storage: JSON values keyed by run, task, map index and key."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select

from aerovane.db import models
from aerovane.db.engine import create_session

RETURN_KEY = "return_value"


def _default(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(
        f"XCom value of type {type(value).__name__} is not JSON-serializable; "
        "return or push JSON-compatible values (dict, list, str, int, float, bool, None)"
    )


def serialize_value(value: Any) -> str:
    return json.dumps(value, default=_default)


def push(
    *, dag_run_id: int, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any
) -> None:
    stored = serialize_value(value)
    with create_session() as session:
        session.execute(
            delete(models.XCom).where(
                models.XCom.dag_run_id == dag_run_id,
                models.XCom.task_id == task_id,
                models.XCom.map_index == map_index,
                models.XCom.key == key,
            )
        )
        session.add(
            models.XCom(
                dag_run_id=dag_run_id,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=map_index,
                key=key,
                value=stored,
            )
        )


def pull(
    *,
    dag_run_id: int,
    task_ids: Iterable[str] | None,
    key: str | None,
    map_index: int | None = None,
) -> dict[str, Any]:
    """Values by task id for one run (the newest per task when several match)."""
    query = select(models.XCom).where(models.XCom.dag_run_id == dag_run_id)
    if task_ids is not None:
        query = query.where(models.XCom.task_id.in_(list(task_ids)))
    if key is not None:
        query = query.where(models.XCom.key == key)
    if map_index is not None:
        query = query.where(models.XCom.map_index == map_index)
    out: dict[str, Any] = {}
    with create_session(readonly=True) as session:
        for row in session.scalars(query.order_by(models.XCom.timestamp)):
            out[row.task_id] = None if row.value is None else json.loads(row.value)
    return out


def pull_all_indexes(*, dag_run_id: int, task_id: str, key: str) -> list[tuple[int, Any]]:
    """(map_index, value) of every XCom `task_id` pushed under `key` in the run, by map index."""
    query = (
        select(models.XCom.map_index, models.XCom.value)
        .where(
            models.XCom.dag_run_id == dag_run_id,
            models.XCom.task_id == task_id,
            models.XCom.key == key,
        )
        .order_by(models.XCom.map_index)
    )
    with create_session(readonly=True) as session:
        return [
            (index, None if value is None else json.loads(value))
            for index, value in session.execute(query)
        ]


def clear(*, dag_run_id: int, task_id: str, map_index: int) -> None:
    with create_session() as session:
        session.execute(
            delete(models.XCom).where(
                models.XCom.dag_run_id == dag_run_id,
                models.XCom.task_id == task_id,
                models.XCom.map_index == map_index,
            )
        )
