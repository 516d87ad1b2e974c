"""`aerovane dags list|trigger|pause|unpause|list-runs|test`."""

from __future__ import annotations

import datetime as dt
import json
import time

import click
from sqlalchemy import select

from aerovane.cli.output import emit, output_option


def _parse_date(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@click.group("dags")
def dags() -> None:
    """List, trigger, pause and test DAGs."""


@dags.command("list")
@output_option
def list_dags(output: str) -> None:
    """DAGs known to the metadata database."""
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = [
            {
                "dag_id": d.dag_id,
                "fileloc": d.fileloc,
                "owners": d.owners,
                "is_paused": d.is_paused,
                "schedule": d.timetable_description,
            }
            for d in session.scalars(
                select(models.DagModel)
                .where(models.DagModel.is_active)
                .order_by(models.DagModel.dag_id)
            )
        ]
    emit(rows, ["dag_id", "fileloc", "owners", "is_paused", "schedule"], output)


@dags.command("trigger")
@click.argument("dag_id")
@click.option("-c", "--conf", default=None, help="JSON object, available as dag_run.conf.")
@click.option("-r", "--run-id", default=None)
@click.option(
    "-e",
    "--exec-date",
    "--logical-date",
    "logical_date",
    default=None,
    help="Logical date (ISO-8601).",
)
@output_option
def trigger(
    dag_id: str, conf: str | None, run_id: str | None, logical_date: str | None, output: str
) -> None:
    """Create a manual run."""
    from aerovane.db.engine import create_session
    from aerovane.scheduler.wakeup import notify_schedulers
    from aerovane.services.dag_runs import trigger_dag_run

    try:
        conf_obj = json.loads(conf) if conf else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"--conf is not valid JSON: {exc}") from None
    if conf_obj is not None and not isinstance(conf_obj, dict):
        raise click.BadParameter("--conf must be a JSON object")
    with create_session() as session:
        run = trigger_dag_run(
            dag_id,
            run_id=run_id,
            logical_date=_parse_date(logical_date),
            conf=conf_obj,
            triggered_by="cli",
            session=session,
        )
        row = {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "state": run.state,
            "logical_date": run.logical_date.isoformat(),
        }
    notify_schedulers()
    emit([row], ["dag_id", "run_id", "state", "logical_date"], output)


def _set_paused(dag_id: str, paused: bool) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.services.errors import NotFound

    with create_session() as session:
        dag = session.get(models.DagModel, dag_id)
        if dag is None:
            raise NotFound(f"DAG {dag_id!r} not found")
        dag.is_paused = paused
    click.echo(f"DAG {dag_id} {'paused' if paused else 'unpaused'}.")


@dags.command("pause")
@click.argument("dag_id")
def pause(dag_id: str) -> None:
    """Stop scheduling new runs and tasks of a DAG."""
    _set_paused(dag_id, True)


@dags.command("unpause")
@click.argument("dag_id")
def unpause(dag_id: str) -> None:
    """Resume a paused DAG."""
    _set_paused(dag_id, False)


@dags.command("list-runs")
@click.option("-d", "--dag-id", required=True)
@click.option("--state", default=None)
@output_option
def list_runs(dag_id: str, state: str | None, output: str) -> None:
    """Runs of one DAG, newest first."""
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        query = select(models.DagRun).where(models.DagRun.dag_id == dag_id)
        if state:
            query = query.where(models.DagRun.state == state)
        rows = [
            {
                "dag_id": r.dag_id,
                "run_id": r.run_id,
                "state": r.state,
                "logical_date": r.logical_date.isoformat(),
                "start_date": r.start_date.isoformat() if r.start_date else None,
                "end_date": r.end_date.isoformat() if r.end_date else None,
            }
            for r in session.scalars(query.order_by(models.DagRun.logical_date.desc()).limit(500))
        ]
    emit(rows, ["dag_id", "run_id", "state", "logical_date", "start_date", "end_date"], output)


@dags.command("test")
@click.argument("dag_id")
@click.argument("logical_date", required=False)
@click.option("-c", "--conf", default=None, help="JSON object for dag_run.conf.")
@click.option("--timeout", default=600.0, show_default=True, help="Give up after N seconds.")
def test(dag_id: str, logical_date: str | None, conf: str | None, timeout: float) -> None:
    """Parse the DAG's file now and run the DAG once with the real engine, printing task logs."""
    from aerovane.components import run_dag_once

    conf_obj = json.loads(conf) if conf else None
    started = time.monotonic()
    state = run_dag_once(dag_id, _parse_date(logical_date), conf_obj, timeout=timeout)
    click.echo(f"Run finished {state} in {time.monotonic() - started:.2f}s")
    if state != "success":
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(dags)
