"""`aerovane tasks test`."""

from __future__ import annotations

import contextlib
import datetime as dt
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
@click.option(
    "-t", "--task-params", default=None, help="JSON object of params for this task (as -t)."
)
@click.option("-n", "--dry-run", is_flag=True, help="Only render the template fields.")
def test(
    dag_id: str,
    task_id: str,
    logical_date: str | None,
    conf: str | None,
    task_params: str | None,
    dry_run: bool,
) -> None:
    """Run one task in this process without dependencies, recording nothing.

    As Airflow's `tasks test`: no state, XCom or run is written to the database; XComs the
    task pushes live in memory for the command's duration."""
    from aerovane.authoring.exceptions import ParamValidationError
    from aerovane.cli.dags_commands import parse_conf, parse_date
    from aerovane.runtime.dag_test import DagNotFound, load_dag
    from aerovane.runtime.task_log import MaskedStream
    from aerovane.runtime.task_runner import LOG_FORMAT
    from aerovane.runtime.test_mode import run_task_in_process

    conf_obj = parse_conf(conf)
    params_obj = parse_conf(task_params, option="-t/--task-params")
    out = MaskedStream(sys.stdout)  # the task's secrets stay off the terminal, as in its log
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=out)
    try:
        dag = load_dag(dag_id)
    except DagNotFound as exc:
        raise click.ClickException(str(exc)) from None
    if not dag.has_task(task_id):
        raise click.ClickException(f"Task {task_id!r} not found in DAG {dag_id!r}")
    when = parse_date(logical_date) or dt.datetime.now(dt.UTC)
    from aerovane.components import startup_finished

    startup_finished()  # user code runs next, with the garbage collector on
    with contextlib.redirect_stdout(out):
        try:
            state, result = run_task_in_process(
                dag, task_id, when, conf_obj, task_params=params_obj, dry_run=dry_run
            )
        except ParamValidationError as exc:
            raise click.ClickException(f"params do not validate: {exc}") from None
        if dry_run:
            for name, value in result.items():
                click.echo(f"{name}: {value!r}")
            return
        click.echo(f"Task {task_id} finished: {state}; returned {result!r}")


def register(cli: click.Group) -> None:
    cli.add_command(tasks)
