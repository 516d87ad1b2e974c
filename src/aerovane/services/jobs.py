"""Long-running components' job rows: which are alive (Airflow's `jobs check`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.types import utcnow


def alive_jobs(
    *,
    job_type: str | None,
    hostname: str | None,
    threshold: dt.timedelta,
    limit: int,
    session: Session,
) -> list[models.Job]:
    """Running jobs that heartbeated within `threshold`, newest heartbeat first."""
    query = select(models.Job).where(
        models.Job.state == "running", models.Job.latest_heartbeat > utcnow() - threshold
    )
    if job_type:
        query = query.where(models.Job.job_type == job_type)
    if hostname:
        query = query.where(models.Job.hostname == hostname)
    return list(session.scalars(query.order_by(models.Job.latest_heartbeat.desc()).limit(limit)))


def recent_jobs(*, state: str | None, limit: int, session: Session) -> list[models.Job]:
    """Jobs newest first (`dags list-jobs`), optionally only those in `state`."""
    query = select(models.Job)
    if state:
        query = query.where(models.Job.state == state)
    return list(session.scalars(query.order_by(models.Job.start_date.desc()).limit(limit)))
