"""`/health` and `/version`: unauthenticated, as in Airflow.

Health reports the metadata database (a `SELECT 1`) and the scheduler (the job row with the
newest heartbeat: healthy if it is running and beat within
`[scheduler] scheduler_health_check_threshold` seconds) and the triggerer the same way
(`[triggerer] triggerer_health_check_threshold`; null when no triggerer ever ran, as in
Airflow). Aerovane has no standalone DAG processor job, so that reports null.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from aerovane import AIRFLOW_COMPAT_VERSION, __version__
from aerovane.api.deps import run_read
from aerovane.api.v1.datamodels.common import iso
from aerovane.api.v1.datamodels.monitoring import HealthInfoResponse, VersionInfoResponse
from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow

log = logging.getLogger(__name__)

router = APIRouter(tags=["Monitoring"])

HEALTHY, UNHEALTHY = "healthy", "unhealthy"
SCHEDULER_JOB = "SchedulerJob"
TRIGGERER_JOB = "TriggererJob"

_JOB = models.Job.__table__.c


def _newest(job_type: str) -> Any:
    return (
        select(_JOB.state, _JOB.latest_heartbeat)
        .where(_JOB.job_type == job_type)
        .order_by(_JOB.latest_heartbeat.desc())
        .limit(1)
    )


_NEWEST_SCHEDULER = _newest(SCHEDULER_JOB)
_NEWEST_TRIGGERER = _newest(TRIGGERER_JOB)


def _status(newest: Any, threshold: int) -> tuple[str, dt.datetime | None]:
    if newest is None:
        return UNHEALTHY, None
    state, heartbeat = newest
    alive = (
        state == "running"
        and heartbeat is not None
        and (utcnow() - heartbeat).total_seconds() < threshold
    )
    return (HEALTHY if alive else UNHEALTHY), heartbeat


_VERSION = {"version": AIRFLOW_COMPAT_VERSION, "git_version": f"aerovane-{__version__}"}


def health_info() -> dict[str, Any]:
    settings = get_settings()
    database = HEALTHY
    try:
        with create_session(readonly=True) as session:
            session.execute(text("SELECT 1"))
            newest = session.execute(_NEWEST_SCHEDULER).first()
            newest_triggerer = session.execute(_NEWEST_TRIGGERER).first()
    except SQLAlchemyError:
        log.warning("health check: metadata database unreachable", exc_info=True)
        database = UNHEALTHY
        newest = newest_triggerer = None
    scheduler, heartbeat = _status(
        newest, settings.getint("scheduler", "scheduler_health_check_threshold")
    )
    triggerer: str | None = None
    if newest_triggerer is not None:
        triggerer, triggerer_heartbeat = _status(
            newest_triggerer, settings.getint("triggerer", "triggerer_health_check_threshold")
        )
    return {
        "metadatabase": {"status": database},
        "scheduler": {"status": scheduler, "latest_scheduler_heartbeat": iso(heartbeat)},
        "triggerer": {
            "status": triggerer,
            "latest_triggerer_heartbeat": iso(triggerer_heartbeat) if triggerer else None,
        },
        "dag_processor": {"status": None, "latest_dag_processor_heartbeat": None},
    }


@router.get(
    "/health",
    operation_id="get_health",
    response_model=None,
    responses={200: {"model": HealthInfoResponse}},
)
async def get_health() -> JSONResponse:
    return JSONResponse(await run_read(health_info))


@router.get(
    "/version",
    operation_id="get_version",
    response_model=None,
    responses={200: {"model": VersionInfoResponse}},
)
async def get_version() -> JSONResponse:
    return JSONResponse(_VERSION)
