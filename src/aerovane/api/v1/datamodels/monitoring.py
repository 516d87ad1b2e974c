"""Health and version responses."""

from __future__ import annotations

from typing import Literal

from aerovane.api.v1.datamodels.common import StrictModel

HealthStatus = Literal["healthy", "unhealthy"] | None


class MetadatabaseStatus(StrictModel):
    status: HealthStatus


class SchedulerStatus(StrictModel):
    status: HealthStatus
    latest_scheduler_heartbeat: str | None


class TriggererStatus(StrictModel):
    status: HealthStatus
    latest_triggerer_heartbeat: str | None


class DagProcessorStatus(StrictModel):
    status: HealthStatus
    latest_dag_processor_heartbeat: str | None


class HealthInfoResponse(StrictModel):
    metadatabase: MetadatabaseStatus
    scheduler: SchedulerStatus
    triggerer: TriggererStatus
    dag_processor: DagProcessorStatus


class VersionInfoResponse(StrictModel):
    version: str
    git_version: str | None
