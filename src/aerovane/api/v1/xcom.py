"""`/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries`: list a task
instance's XCom entries (`~` for any of the three ids: across readable DAGs, runs and tasks)
and get one entry with its value.

Values are stored as JSON text (`aerovane.runtime.xcom`); the list never carries them.
`deserialize=true` asks for a custom XCom backend's full deserialization, which Aerovane does
not have: it answers as Airflow does with `[api] enable_xcom_deserialize_support` off.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select

from aerovane.api.deps import CurrentPrincipal, DbSession, db_handler, requires_access_dag
from aerovane.api.errors import ApiError
from aerovane.api.pagination import PageParams, fetch_page
from aerovane.api.responses import JSONResponse
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.xcom import (
    XComCollectionResponse,
    XComResponse,
    xcom_item_to_dict,
    xcom_value,
)
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import DagEntity, permitted_dag_ids
from aerovane.db.models import DagRun, XCom

router = APIRouter(
    prefix="/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
    tags=["XCom"],
)

X = XCom.__table__.c
_ITEM_COLUMNS = (X.key, X.timestamp, X.map_index, X.task_id, X.dag_id)
_LOGICAL_DATE = DagRun.__table__.c.execution_date.label("run_logical_date")
DESERIALIZE_DISABLED = "XCom deserialization is disabled in configuration."


@router.get(
    "",
    operation_id="get_xcom_entries",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.XCOM))],
    response_model=None,
    responses={200: {"model": XComCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_xcom_entries(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    session: DbSession,
    principal: CurrentPrincipal,
    page: PageParams,
    map_index: int | None = None,
    xcom_key: str | None = None,
) -> JSONResponse:
    query = select(*_ITEM_COLUMNS, _LOGICAL_DATE).join(DagRun, DagRun.id == X.dag_run_id)
    if dag_id == "~":
        allowed = permitted_dag_ids(principal.permissions, READ)
        if allowed is not None:
            query = query.where(X.dag_id.in_(sorted(allowed)))
    else:
        query = query.where(X.dag_id == dag_id)
    if dag_run_id != "~":
        query = query.where(X.run_id == dag_run_id)
    if task_id != "~":
        query = query.where(X.task_id == task_id)
    if map_index is not None:
        query = query.where(X.map_index == map_index)
    if xcom_key is not None:
        query = query.where(X.key == xcom_key)
    order = [DagRun.logical_date, X.task_id, X.dag_id, X.key, X.map_index, X.dag_run_id]
    rows, total = fetch_page(session, query, page, [c.asc() for c in order])
    items = [xcom_item_to_dict(row) for row in rows]
    return JSONResponse({"xcom_entries": items, "total_entries": total})


@router.get(
    "/{xcom_key}",
    operation_id="get_xcom_entry",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.XCOM))],
    response_model=None,
    responses={200: {"model": XComResponse}, **error_responses(400, 401, 403, 404)},
)
@db_handler
def get_xcom_entry(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    session: DbSession,
    map_index: int = -1,
    deserialize: bool = False,
    stringify: bool = True,
) -> JSONResponse:
    if deserialize:
        raise ApiError(400, DESERIALIZE_DISABLED)
    row = session.execute(
        select(*_ITEM_COLUMNS, X.value, _LOGICAL_DATE)
        .join(DagRun, DagRun.id == X.dag_run_id)
        .where(
            X.dag_id == dag_id,
            X.run_id == dag_run_id,
            X.task_id == task_id,
            X.key == xcom_key,
            X.map_index == map_index,
        )
    ).first()
    if row is None:
        raise ApiError(404, title="XCom entry not found")
    item = xcom_item_to_dict(row)
    item["value"] = xcom_value(row.value, stringify=stringify)
    return JSONResponse(item)
