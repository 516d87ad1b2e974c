"""`/health` and `/version`: no auth, Airflow's shapes, scheduler health from job heartbeats."""

from __future__ import annotations

import datetime as dt

import httpx

from aerovane import AIRFLOW_COMPAT_VERSION, __version__
from aerovane.api.v1.datamodels.monitoring import HealthInfoResponse, VersionInfoResponse
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow


def _add_job(state: str, heartbeat: dt.datetime, job_type: str = "SchedulerJob") -> None:
    with create_session() as session:
        session.add(models.Job(job_type=job_type, state=state, latest_heartbeat=heartbeat))


def test_version_needs_no_auth(client: httpx.Client) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    body = VersionInfoResponse.model_validate(response.json())
    assert body.version == AIRFLOW_COMPAT_VERSION
    assert body.git_version == f"aerovane-{__version__}"
    assert response.headers["cache-control"] == "no-store"


def test_health_without_scheduler(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    HealthInfoResponse.model_validate(response.json())
    assert response.json() == {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": None},
        "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
        "dag_processor": {"status": None, "latest_dag_processor_heartbeat": None},
    }


def test_health_with_recent_heartbeat(client: httpx.Client) -> None:
    beat = utcnow() - dt.timedelta(seconds=2)
    _add_job("success", beat - dt.timedelta(hours=1))
    _add_job("running", beat)
    _add_job("running", utcnow(), job_type="DagProcessorJob")
    body = client.get("/health").json()
    assert body["scheduler"] == {
        "status": "healthy",
        "latest_scheduler_heartbeat": beat.isoformat(),
    }
    assert body["scheduler"]["latest_scheduler_heartbeat"].endswith("+00:00")


def test_health_with_stale_heartbeat(client: httpx.Client) -> None:
    beat = utcnow() - dt.timedelta(seconds=31)
    _add_job("running", beat)
    body = client.get("/health").json()
    assert body["scheduler"] == {
        "status": "unhealthy",
        "latest_scheduler_heartbeat": beat.isoformat(),
    }


def test_health_threshold_is_read_live(client: httpx.Client, configure) -> None:  # type: ignore[no-untyped-def]
    _add_job("running", utcnow() - dt.timedelta(seconds=31))
    configure(scheduler__scheduler_health_check_threshold="120")
    assert client.get("/health").json()["scheduler"]["status"] == "healthy"


def test_health_of_a_scheduler_that_stopped(client: httpx.Client) -> None:
    _add_job("success", utcnow())
    assert client.get("/health").json()["scheduler"]["status"] == "unhealthy"


def test_root_health_matches_api_health(base_url: str) -> None:
    response = httpx.get(base_url + "/health")
    assert response.status_code == 200
    assert response.json()["metadatabase"] == {"status": "healthy"}
    assert response.headers["cache-control"] == "no-store"


def test_health_reports_the_newest_triggerer(client: httpx.Client) -> None:
    beat = utcnow() - dt.timedelta(seconds=2)
    _add_job("running", beat - dt.timedelta(minutes=5), job_type="TriggererJob")
    _add_job("running", beat, job_type="TriggererJob")
    body = client.get("/health").json()
    assert body["triggerer"] == {
        "status": "healthy",
        "latest_triggerer_heartbeat": beat.isoformat(),
    }


def test_health_of_a_stale_or_stopped_triggerer(client: httpx.Client, configure) -> None:  # type: ignore[no-untyped-def]
    beat = utcnow() - dt.timedelta(seconds=31)
    _add_job("running", beat, job_type="TriggererJob")
    body = client.get("/health").json()
    assert body["triggerer"] == {
        "status": "unhealthy",
        "latest_triggerer_heartbeat": beat.isoformat(),
    }
    configure(triggerer__triggerer_health_check_threshold="120")
    assert client.get("/health").json()["triggerer"]["status"] == "healthy"
    _add_job("success", utcnow(), job_type="TriggererJob")
    assert client.get("/health").json()["triggerer"]["status"] == "unhealthy"
