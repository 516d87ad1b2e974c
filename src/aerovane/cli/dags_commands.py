"""`aerovane dags list|trigger|pause|unpause|list-runs|test`."""

from __future__ import annotations

import datetime as dt
import json
import time

import click
from sqlalchemy import select

from aerovane.cli.output import emit, output_option


def parse_conf(value: str | None, *, option: str = "-c/--conf") -> dict[str, object] | None:
    """A JSON object option, or a one-line error naming the option and what to pass."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"{option} is not valid JSON ({exc}); pass an object such as '{{\"key\": 1}}'"
        ) from None
    if not isinstance(parsed, dict):
        raise click.ClickException(
            f"{option} must be a JSON object such as '{{\"key\": 1}}', not {value!r}"
        )
    return parsed


def parse_date(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"{value!r} is not an ISO-8601 date; pass e.g. 2026-01-01 or 2026-01-01T06:00:00+00:00"
        ) from None
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

    conf_obj = parse_conf(conf)
    with create_session() as session:
        run = trigger_dag_run(
            dag_id,
            run_id=run_id,
            logical_date=parse_date(logical_date),
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
    from aerovane.services.errors import NotFound

    with create_session(readonly=True) as session:
        if session.get(models.DagModel, dag_id) is None:
            raise NotFound(f"DAG {dag_id!r} not found; `aerovane dags list` shows the DAGs")
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
def test(dag_id: str, logical_date: str | None, conf: str | None) -> None:
    """Run one DAG run in this process, each task in dependency order, printing its log.

    As Airflow's `dags test`: only this run is created; no scheduler or executor runs, so other
    runs, the pause flag and the schedule are left alone. Exits 1 if the run failed.
    """
    from aerovane.authoring.exceptions import ParamValidationError
    from aerovane.components import startup_finished
    from aerovane.runtime.dag_test import DagNotFound, load_dag, run_dag_test

    conf_obj = parse_conf(conf)
    when = parse_date(logical_date)
    started = time.monotonic()
    try:
        dag = load_dag(dag_id)
    except DagNotFound as exc:
        raise click.ClickException(str(exc)) from None
    startup_finished()  # user code runs next, with the garbage collector on
    try:
        result = run_dag_test(dag, logical_date=when, conf=conf_obj, echo=click.echo)
    except ParamValidationError as exc:
        raise click.ClickException(f"--conf does not match the DAG's params: {exc}") from None
    for task_id, state in result.task_states.items():
        click.echo(f"{task_id}: {state}")
    click.echo(f"Run {result.run_id} finished {result.state} in {time.monotonic() - started:.2f}s")
    if result.state != "success":
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(dags)
