"""DAG-level callback requests: queued by the scheduler when a run finishes, claimed by a DAG
processor, which runs the DAG file's `on_success_callback` / `on_failure_callback` in a child
process (user code never runs in the scheduler), as Airflow 2's `callback_request` table does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aerovane.db import models

__all__ = ["DAG_CALLBACK", "claim_callback_requests", "request_callback", "request_dag_callback"]

DAG_CALLBACK = "DagCallbackRequest"


def request_callback(callback_type: str, data: dict[str, Any], *, session: Session) -> None:
    session.add(models.CallbackRequest(callback_type=callback_type, callback_data=data))


def request_dag_callback(
    *, dag_id: str, run_id: str, fileloc: str, is_failure: bool, msg: str, session: Session
) -> None:
    request_callback(
        DAG_CALLBACK,
        {
            "dag_id": dag_id,
            "run_id": run_id,
            "fileloc": fileloc,
            "is_failure_callback": is_failure,
            "msg": msg,
        },
        session=session,
    )


def claim_callback_requests(*, limit: int, session: Session) -> list[dict[str, Any]]:
    """The oldest pending requests, removed from the table; a request another processor
    deleted first is not returned (each runs once)."""
    rows = session.execute(
        select(
            models.CallbackRequest.id,
            models.CallbackRequest.callback_type,
            models.CallbackRequest.callback_data,
        )
        .order_by(models.CallbackRequest.priority_weight.desc(), models.CallbackRequest.id)
        .limit(limit)
    ).all()
    claimed: list[dict[str, Any]] = []
    for row in rows:
        result = session.execute(
            delete(models.CallbackRequest).where(models.CallbackRequest.id == row.id)
        )
        if result.rowcount == 1:
            claimed.append({**row.callback_data, "callback_type": row.callback_type})
    return claimed
