"""`aerovane tasks test`."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys

import click


@click.group("tasks")
def tasks() -> None:
    """Work with single tasks."""


@tasks.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("logical_date", required=False)
@click.option("-c", "--conf", default=None, help="JSON object for dag_run.conf.")
def test(dag_id: str, task_id: str, logical_date: str | None, conf: str | None) -> None:
    """Run one task in this process without dependencies, recording nothing."""
    from aerovane.config import get_settings
    from aerovane.dag_processing.importer import import_dag_file
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.runtime.task_log import MaskedStream
    from aerovane.runtime.task_runner import LOG_FORMAT
    from aerovane.runtime.test_mode import run_task_in_process

    out = MaskedStream(sys.stdout)  # the task's secrets stay off the terminal, as in its log
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=out)
    with create_session(readonly=True) as session:
        row = session.get(models.DagModel, dag_id)
        fileloc = row.fileloc if row is not None else None
    if fileloc is None:
        raise click.ClickException(f"DAG {dag_id!r} is not known; is the DAG processor running?")
    dags, _ = import_dag_file(fileloc, get_settings().dags_folder)
    if dag_id not in dags:
        raise click.ClickException(f"DAG {dag_id!r} is no longer defined in {fileloc}")
    if not dags[dag_id].has_task(task_id):
        raise click.ClickException(f"Task {task_id!r} not found in DAG {dag_id!r}")
    when = dt.datetime.fromisoformat(logical_date) if logical_date else dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    from aerovane.components import startup_finished

    startup_finished()  # user code runs next, with the garbage collector on
    with contextlib.redirect_stdout(out):
        state, result = run_task_in_process(
            dags[dag_id], task_id, when, json.loads(conf) if conf else None
        )
        click.echo(f"Task {task_id} finished: {state}; returned {result!r}")


def register(cli: click.Group) -> None:
    cli.add_command(tasks)
