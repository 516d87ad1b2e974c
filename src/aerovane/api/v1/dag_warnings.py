"""`/dagWarnings`: problems with parsed DAGs that do not stop them from loading.

Aerovane keeps no warning table: warnings are computed from what is stored now
(`aerovane.services.dags.dag_warnings`), then filtered, sorted and paged here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from aerovane.api.deps import (
    CurrentPrincipal,
    DbSession,
    db_handler,
    requires_access_dag,
)
from aerovane.api.errors import ApiError
from aerovane.api.pagination import PageParams
from aerovane.api.v1.datamodels.common import error_responses, iso
from aerovane.api.v1.datamodels.dags import DagWarningCollectionResponse
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import DAGS, DagEntity, has_access, permitted_dag_ids
from aerovane.services import dags as dag_service

router = APIRouter(prefix="/dagWarnings", tags=["DagWarning"])

_ORDER_BY = ("dag_id", "warning_type", "message", "timestamp")


def _sorted(warnings: list[Any], order_by: str | None) -> list[Any]:
    value = (order_by or "").strip() or "timestamp"
    name = value.lstrip("-")
    if name not in _ORDER_BY:
        raise ApiError(
            400,
            f"Ordering with '{name}' is disallowed or the attribute does not exist on the model",
        )
    # Ties keep a stable order: by DAG, then type.
    warnings = sorted(warnings, key=lambda w: (w.dag_id, w.warning_type))
    return sorted(warnings, key=lambda w: getattr(w, name), reverse=value.startswith("-"))


@router.get(
    "",
    operation_id="get_dag_warnings",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.WARNING))],
    response_model=None,
    responses={200: {"model": DagWarningCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_dag_warnings(
    session: DbSession,
    principal: CurrentPrincipal,
    page: PageParams,
    dag_id: str | None = None,
    warning_type: str | None = None,
    order_by: str | None = None,
) -> JSONResponse:
    if dag_id is not None:
        # As Airflow: naming a DAG needs read access to that DAG.
        if not has_access(principal.permissions, READ, DAGS, dag_id):
            raise ApiError(403)
        dag_ids: frozenset[str] | None = frozenset({dag_id})
    else:
        dag_ids = permitted_dag_ids(principal.permissions, READ)
    warnings = dag_service.dag_warnings(dag_ids=dag_ids, session=session)
    if warning_type is not None:
        warnings = [w for w in warnings if w.warning_type == warning_type]
    warnings = _sorted(warnings, order_by)
    items = [
        {
            "dag_id": w.dag_id,
            "warning_type": w.warning_type,
            "message": w.message,
            "timestamp": iso(w.timestamp),
        }
        for w in warnings[page.offset : page.offset + page.limit]
    ]
    return JSONResponse({"dag_warnings": items, "total_entries": len(warnings)})
