"""`aerovane db migrate|check|reset|clean`."""

from __future__ import annotations

import sys

import click

#: Kept in step with `aerovane.services.db_cleanup.TABLES` (a test checks); listed here so
#: `--help` does not import the models.
_TABLES = (
    "job",
    "dag_run",
    "dataset_event",
    "import_error",
    "log",
    "sla_miss",
    "task_instance",
    "task_instance_history",
    "task_reschedule",
    "xcom",
    "callback_request",
)


@click.group("db")
def db() -> None:
    """Manage the metadata database."""


@db.command("migrate")
def migrate_cmd() -> None:
    """Create or upgrade the schema to the newest version."""
    from aerovane.config import ensure_home
    from aerovane.db.migrate import head_revision, migrate

    ensure_home()
    applied = migrate()
    click.echo(f"Database migrated to {head_revision()}." if applied else "Database is up to date.")


@db.command("check")
def check_cmd() -> None:
    """Exit 0 if the database is reachable and at the newest schema."""
    from aerovane.db.migrate import check

    ok, message = check()
    click.echo(message, err=not ok)
    sys.exit(0 if ok else 1)


@db.command("reset")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_cmd(yes: bool) -> None:
    """Drop all data and recreate the schema."""
    from aerovane.config import ensure_home
    from aerovane.db.migrate import reset

    if not yes:
        click.confirm("This drops every table of the metadata database. Continue?", abort=True)
    ensure_home()
    reset()
    click.echo("Database reset.")


@db.command("clean")
@click.option(
    "--clean-before-timestamp",
    required=True,
    help="The date or timestamp before which data should be purged (UTC unless it has an "
    "offset), e.g. '2022-01-01 00:00:00+01:00'.",
)
@click.option(
    "-t",
    "--tables",
    default=None,
    help="Table names to perform maintenance on (comma-separated list): "
    + ", ".join(_TABLES)
    + ".",
)
@click.option("--dry-run", is_flag=True, help="Perform a dry run.")
@click.option(
    "--skip-archive", is_flag=True, help="Don't preserve purged records in an archive table."
)
@click.option("-v", "--verbose", is_flag=True, help="Make logging output more verbose.")
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm. Use with care!")
def clean_cmd(
    clean_before_timestamp: str,
    tables: str | None,
    dry_run: bool,
    skip_archive: bool,
    verbose: bool,
    yes: bool,
) -> None:
    """Purge old records in metastore tables."""
    from aerovane.cli.dags_commands import parse_date
    from aerovane.db.engine import create_session
    from aerovane.db.types import utcnow
    from aerovane.services.db_cleanup import TABLES, clean_table, count_rows

    before = parse_date(clean_before_timestamp.replace(" ", "T", 1))
    if before is None:
        raise click.ClickException("--clean-before-timestamp is required")
    names = list(TABLES)
    if tables:
        names = [t.strip() for t in tables.split(",") if t.strip()]
        unknown = sorted(set(names) - set(TABLES))
        if unknown:
            raise click.ClickException(
                f"unknown table(s) {unknown}; choose from {', '.join(TABLES)}"
            )
        names = [t for t in TABLES if t in names]
    with create_session(readonly=True) as session:
        counts = {name: count_rows(name, before, session=session) for name in names}
    click.echo(f"Rows older than {before.isoformat()}:")
    for name in names:
        click.echo(f"  {name}: {counts[name]}")
    if dry_run:
        click.echo("Dry run: nothing was deleted.")
        return
    if not any(counts.values()):
        click.echo("Nothing to clean.")
        return
    if not yes:
        archive_note = "" if skip_archive else " (an archive table keeps a copy of each)"
        click.confirm(f"Delete these rows{archive_note}?", abort=True)
    now = utcnow()
    with click.progressbar(names, label="Cleaning tables", file=sys.stderr) as bar:
        done = []
        for name in bar:
            with create_session() as session:  # one table per transaction, as Airflow
                done.append(
                    clean_table(name, before, archive=not skip_archive, now=now, session=session)
                )
    for result in done:
        if result.rows or verbose:
            where = f", archived in {result.archive}" if result.archive else ""
            click.echo(f"{result.table}: {result.rows} row(s) deleted{where}")


def register(cli: click.Group) -> None:
    cli.add_command(db)
