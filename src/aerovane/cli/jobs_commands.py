"""`aerovane jobs check`, as Airflow's: exit 0 only if a live job matches (for probes)."""

from __future__ import annotations

import datetime as dt

import click


@click.group("jobs")
def jobs() -> None:
    """Manage jobs."""


@jobs.command("check")
@click.option(
    "--job-type",
    type=click.Choice(["SchedulerJob"]),
    default=None,
    help="The type of job(s) that will be checked.",
)
@click.option("--hostname", default=None, help="The hostname of job(s) that will be checked.")
@click.option(
    "--local", is_flag=True, help="If passed, this command will only show jobs from the local host."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="The number of recent jobs that will be checked.",
)
@click.option(
    "--allow-multiple",
    is_flag=True,
    help="Succeed even if several matching alive jobs are found.",
)
def check(
    job_type: str | None, hostname: str | None, local: bool, limit: int, allow_multiple: bool
) -> None:
    """Checks if job(s) are still alive."""
    from aerovane.config import get_settings
    from aerovane.db.engine import create_session
    from aerovane.scheduler.liveness import this_host
    from aerovane.services.jobs import alive_jobs

    if allow_multiple and limit <= 1:
        raise click.ClickException(
            "To use option --allow-multiple, you must set the limit to a value greater than 1."
        )
    if hostname and local:
        raise click.ClickException("You can't use --hostname and --local at the same time")
    threshold = dt.timedelta(
        seconds=get_settings().getint("scheduler", "scheduler_health_check_threshold")
    )
    with create_session(readonly=True) as session:
        alive = alive_jobs(
            job_type=job_type,
            hostname=this_host() if local else hostname,
            threshold=threshold,
            limit=limit,
            session=session,
        )
    if not alive:
        raise click.ClickException("No alive jobs found.")
    if len(alive) > 1 and not allow_multiple:
        raise click.ClickException(f"Found {len(alive)} alive jobs. Expected only one.")
    click.echo("Found one alive job." if len(alive) == 1 else f"Found {len(alive)} alive jobs.")


def register(cli: click.Group) -> None:
    cli.add_command(jobs)
