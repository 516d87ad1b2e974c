"""`/dagStats`: how many runs each DAG has in each run state.

Only DAGs the caller may read are counted; an empty `dag_ids` means all of them, as in Airflow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from aerovane.api.deps import CurrentPrincipal, DbSession, db_handler, requires_access_dag
from aerovane.api.params import split_csv
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.dags import DagStatsCollectionResponse
from aerovane.auth.permissions import READ
from aerovane.auth.rbac import DagEntity, permitted_dag_ids
from aerovane.services import dags as dag_service

router = APIRouter(prefix="/dagStats", tags=["DagStats"])


@router.get(
    "",
    operation_id="get_dag_stats",
    dependencies=[Depends(requires_access_dag("GET", DagEntity.RUN))],
    response_model=None,
    responses={200: {"model": DagStatsCollectionResponse}, **error_responses(400, 401, 403)},
)
@db_handler
def get_dag_stats(
    session: DbSession,
    principal: CurrentPrincipal,
    dag_ids: Annotated[str, Query(description="One or more DAG IDs separated by commas.")],
) -> JSONResponse:
    allowed = permitted_dag_ids(principal.permissions, READ)
    wanted: set[str] | None = set(split_csv([dag_ids])) or None
    if allowed is not None:
        wanted = allowed if wanted is None else wanted & allowed
    stats = dag_service.dag_run_stats(wanted, session=session)
    dags = [
        {"dag_id": dag_id, "stats": [{"state": s, "count": n} for s, n in counts.items()]}
        for dag_id, counts in stats.items()
    ]
    return JSONResponse({"dags": dags, "total_entries": len(dags)})
