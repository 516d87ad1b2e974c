"""`aerovane jobs check` against job rows in a real database."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow
from aerovane.scheduler.liveness import this_host
from tests.cli.conftest import fails, ok


def _job(hostname: str, *, age: dt.timedelta, state: str = "running") -> None:
    with create_session() as session:
        session.add(
            models.Job(
                job_type="SchedulerJob",
                state=state,
                hostname=hostname,
                latest_heartbeat=utcnow() - age,
            )
        )


def test_check(runner: CliRunner) -> None:
    assert "No alive jobs found." in fails(runner, "jobs", "check").stderr
    _job("elsewhere", age=dt.timedelta(hours=1))  # stale
    _job("gone", age=dt.timedelta(0), state="success")  # ended
    fails(runner, "jobs", "check", "--job-type", "SchedulerJob")
    _job(this_host(), age=dt.timedelta(0))
    assert ok(runner, "jobs", "check", "--local") == "Found one alive job.\n"
    _job("other-host", age=dt.timedelta(0))
    assert ok(runner, "jobs", "check", "--hostname", "other-host") == "Found one alive job.\n"
    assert (
        "Found 2 alive jobs. Expected only one."
        in fails(runner, "jobs", "check", "--limit", "2").stderr
    )
    assert ok(runner, "jobs", "check", "--limit", "5", "--allow-multiple") == (
        "Found 2 alive jobs.\n"
    )
    assert "--allow-multiple" in fails(runner, "jobs", "check", "--allow-multiple").stderr
    assert "at the same time" in fails(runner, "jobs", "check", "--local", "--hostname", "x").stderr
