"""The Celery application both sides share: broker, result backend, queues, the one task.

Messages are acknowledged late (after the attempt's process ended) and given back to the
broker when a worker is lost, so a worker crash or restart never loses an attempt; a message
delivered twice runs nothing the second time, because the task process claims its task
instance in the database first (`runtime.task_runner.claim`).
"""

from __future__ import annotations

import functools
from typing import Any

from aerovane.config import get_settings

#: The one Celery task: run a `TaskWorkload` (as a dict) in a forked process on the worker.
TASK_NAME = "aerovane.execute_workload"


def result_backend_for(broker_url: str, configured: str) -> str:
    """`[celery] result_backend`, or the broker itself when empty (AMQP brokers have no key
    store, so their results travel back as messages: `rpc://`)."""
    if configured:
        return configured
    if broker_url.startswith(("amqp", "pyamqp")):
        return "rpc://"
    return broker_url


def _config() -> dict[str, Any]:
    settings = get_settings()
    broker = settings.getstr("celery", "broker_url")
    return {
        "broker_url": broker,
        "result_backend": result_backend_for(broker, settings.getstr("celery", "result_backend")),
        "task_default_queue": settings.getstr("operators", "default_queue"),
        "task_create_missing_queues": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message reserved per free thread: a busy worker leaves the rest to the others.
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 86400,
        "result_extended": False,
        "broker_connection_retry_on_startup": True,
        # Redis re-delivers a message not acknowledged within this time; an attempt may run
        # longer, so make it long (Airflow's default); a lost worker's attempt is detected by
        # the scheduler meanwhile (its heartbeat), and the late re-delivery then claims nothing.
        "broker_transport_options": {"visibility_timeout": 21600},
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
    }


@functools.cache
def celery_app() -> Any:
    """The process's Celery app (settings are read once per process, as everywhere)."""
    from celery import Celery

    config = _config()
    # Broker and backend go to the constructor: settings given there survive the worker's
    # loader re-reading its configuration (conf.update's would leave it DisabledBackend).
    app = Celery(
        "aerovane",
        broker=config.pop("broker_url"),
        backend=config.pop("result_backend"),
        set_as_current=False,
    )
    app.conf.update(config)
    # Celery's thread pool runs a task on the process's default app, whatever app the worker
    # was given: ours must be it (one app per process).
    app.set_default()

    @app.task(name=TASK_NAME, shared=False, acks_late=True, reject_on_worker_lost=True)
    def execute_workload(payload: dict[str, Any]) -> dict[str, Any]:
        from aerovane.executors.celery.worker import run_in_zygote

        return run_in_zygote(payload)

    return app
