"""`aerovane celery worker|flower|stop`: Airflow's `airflow celery ...` commands."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path

import click

DEFAULT_PIDFILE = "aerovane-worker.pid"


def _pidfile(path: str | None) -> Path:
    from aerovane.config import get_settings

    return Path(path) if path else get_settings().home / DEFAULT_PIDFILE


@click.group("celery")
def celery() -> None:
    """Celery workers for `[core] executor = CeleryExecutor`."""


@celery.command("worker")
@click.option("-q", "--queues", default=None, help="Comma-separated queues to take tasks from.")
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Task attempts run at once (default [celery] worker_concurrency).",
)
@click.option("-H", "--celery-hostname", default=None, help="The worker's name in Celery.")
@click.option("--pid", default=None, help="PID file (default $AEROVANE_HOME/aerovane-worker.pid).")
@click.option(
    "-s", "--skip-serve-logs", is_flag=True, help="Do not serve task logs to the API server."
)
def worker(
    queues: str | None,
    concurrency: int | None,
    celery_hostname: str | None,
    pid: str | None,
    skip_serve_logs: bool,
) -> None:
    """Run a Celery worker: take task attempts from the broker and run each in its own process."""
    from aerovane.cli.servers import _setup_logging
    from aerovane.components import startup_finished
    from aerovane.config import ensure_home
    from aerovane.executors.celery.worker import CeleryWorker
    from aerovane.services import remote_logs

    ensure_home()
    remote_logs.check()  # a URL whose fsspec implementation is missing: one line, at once
    _setup_logging()
    service = CeleryWorker(
        queues=[q.strip() for q in queues.split(",") if q.strip()] if queues else None,
        concurrency=concurrency,
        hostname=celery_hostname,
        log_server_port=0 if skip_serve_logs else None,
        pidfile=_pidfile(pid),
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: service.stop())
    startup_finished()
    service.serve()


@celery.command("stop")
@click.option("--pid", default=None, help="PID file of the worker to stop.")
def stop(pid: str | None) -> None:
    """Stop the worker of this home (SIGTERM: running attempts finish first)."""
    path = _pidfile(pid)
    try:
        worker_pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        click.echo(f"Error: no worker PID in {path}; is a worker running?", err=True)
        sys.exit(1)
    try:
        os.kill(worker_pid, signal.SIGTERM)
    except ProcessLookupError:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        click.echo(f"Error: worker {worker_pid} is not running (stale {path} removed)", err=True)
        sys.exit(1)
    click.echo(f"Sent SIGTERM to worker {worker_pid}")


@celery.command("flower")
@click.option("-H", "--hostname", default=None, help="Address to listen on.")
@click.option("-p", "--port", type=int, default=None, help="Port to listen on.")
def flower(hostname: str | None, port: int | None) -> None:
    """Run Flower, Celery's web monitor, on the broker of `[celery] broker_url`."""
    from aerovane.config import ensure_home

    try:
        import flower as _flower  # noqa: F401
    except ImportError:
        click.echo("Error: Flower is not installed; run `pip install flower` first", err=True)
        sys.exit(1)
    settings = ensure_home()
    from aerovane.executors.celery.app import celery_app

    host = hostname or settings.getstr("celery", "flower_host")
    listen = port if port is not None else settings.getint("celery", "flower_port")
    celery_app().start(["flower", f"--address={host}", f"--port={listen}"])


def register(cli: click.Group) -> None:
    cli.add_command(celery)
