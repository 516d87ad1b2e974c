"""The triggerer loop: a `Job` row with heartbeats; each pass claims triggers no live triggerer
owns, starts and cancels triggers on the asyncio runner to match what it owns, and writes the
runner's events and failures back (the task instances go back to `scheduled` and the scheduler
is woken).

Claiming follows the scale-out HA rule: a trigger belongs to one triggerer whose heartbeat is
fresh (`[triggerer] triggerer_health_check_threshold`) and, on this host, whose process is
alive; a dead triggerer's triggers are taken over, and a resume is a guarded update, so a task
resumes once even if two triggerers briefly ran its trigger.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
import time

from sqlalchemy import update
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow
from aerovane.metrics import Stats
from aerovane.runtime.metadata import TaskMetadataClient
from aerovane.scheduler.liveness import process_gone, this_host
from aerovane.scheduler.wakeup import Wakeup, notify_schedulers
from aerovane.services import triggers
from aerovane.services.loop_service import LoopService
from aerovane.services.task_logs import log_path
from aerovane.triggerer.runner import TriggerRunner


class Triggerer(LoopService):
    name = "triggerer"

    def __init__(self, *, capacity: int | None = None) -> None:
        settings = get_settings()
        super().__init__(settings.getfloat("triggerer", "job_heartbeat_sec"))
        self.capacity = capacity or settings.getint("triggerer", "default_capacity")
        self._threshold = dt.timedelta(
            seconds=settings.getint("triggerer", "triggerer_health_check_threshold")
        )
        self.job_id: int | None = None
        self.wakeup = Wakeup("triggerer")
        self.runner = TriggerRunner(
            on_outcome=self.wakeup.notify, log_path=log_path, metadata=TaskMetadataClient()
        )
        self._last_heartbeat = 0.0
        self._hostname = this_host()

    def on_start(self) -> None:
        from aerovane.compat import airflow_shim

        # User triggers live next to the DAGs, as in Airflow (the DAGs folder is on sys.path),
        # and may import them from `airflow.triggers`.
        airflow_shim.install()
        dags = str(get_settings().dags_folder)
        if dags not in sys.path:
            sys.path.append(dags)
        with create_session() as session:
            job = models.Job(
                job_type=triggers.TRIGGERER_JOB,
                hostname=this_host(),
                unixname=getpass.getuser(),
                pid=os.getpid(),
            )
            session.add(job)
            session.flush()
            self.job_id = job.id
        self._last_heartbeat = time.monotonic()
        self.runner.start()
        self.log.info("triggerer started (job %s, capacity %d)", self.job_id, self.capacity)

    def on_stop(self) -> None:
        self.runner.stop()
        self._write_outcomes()
        with create_session() as session:
            session.execute(
                update(models.Job)
                .where(models.Job.id == self.job_id)
                .values(state="success", end_date=utcnow())
            )
            # What we ran goes back to the pool at once rather than after the threshold.
            session.execute(
                update(models.Trigger)
                .where(models.Trigger.triggerer_id == self.job_id)
                .values(triggerer_id=None)
            )
        self.wakeup.close()

    def wake(self) -> None:
        self.wakeup.notify()

    def sleep(self, seconds: float) -> None:
        if not self.stopping:
            self.wakeup.wait(seconds)

    def run_once(self) -> float:
        assert self.job_id is not None
        self._heartbeat()
        self._write_outcomes()
        with create_session() as session:
            triggers.clean_unused(session=session)
            triggers.assign_unassigned(
                self.job_id, capacity=self.capacity, alive=self._alive(session), session=session
            )
        with create_session(readonly=True) as session:
            owned = triggers.owned_triggers(self.job_id, session=session)
        self.runner.update(owned)
        Stats.gauge("triggers.running", len(owned), tags={"hostname": self._hostname})
        return self.interval

    def _alive(self, session: Session) -> list[int]:
        """Triggerers with a fresh heartbeat, less those on this host whose process is gone
        (a killed triggerer's triggers are taken over at once, not after the threshold)."""
        host = this_host()
        return [
            job.id
            for job in triggers.live_triggerers(threshold=self._threshold, session=session)
            if job.id == self.job_id
            or job.hostname != host
            or not process_gone(job.pid, recorded_at=job.start_date)
        ]

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < self.interval:
            return
        self._last_heartbeat = now
        with create_session() as session:
            session.execute(
                update(models.Job)
                .where(models.Job.id == self.job_id)
                .values(latest_heartbeat=utcnow())
            )
        Stats.incr("triggerer_heartbeat", 1, 1)

    def _write_outcomes(self) -> None:
        """Write fired events and failures; if the database refuses them (it restarts), they go
        back to the runner for the next pass: a fired trigger is not started again, so an
        outcome dropped here would leave its task deferred for good. Writing one twice (a commit
        whose answer was lost) resumes nothing twice: a resume is a guarded update."""
        outcomes = self.runner.drain()
        if not (outcomes.events or outcomes.failures):
            return
        if outcomes.events:
            Stats.incr("triggers.succeeded", len(outcomes.events))
        if outcomes.failures:
            Stats.incr("triggers.failed", len(outcomes.failures))
        resumed = 0
        try:
            with create_session() as session:
                for trigger_id, payload in outcomes.events.items():
                    resumed += triggers.submit_event(trigger_id, payload, session=session)
                for trigger_id, (error, trace) in outcomes.failures.items():
                    resumed += triggers.submit_failure(trigger_id, error, trace, session=session)
        except BaseException:
            self.runner.put_back(outcomes)
            raise
        if resumed:
            self.log.info("%d task instance(s) resumed", resumed)
            notify_schedulers()
