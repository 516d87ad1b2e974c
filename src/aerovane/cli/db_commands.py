"""`aerovane db migrate|check|reset|clean`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

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


def _tables_option(help_text: str) -> Callable[[F], F]:
    return click.option("-t", "--tables", default=None, help=help_text)


def _chosen_tables(tables: str | None) -> list[str] | None:
    if not tables:
        return None
    names = [t.strip() for t in tables.split(",") if t.strip()]
    unknown = sorted(set(names) - set(_TABLES))
    if unknown:
        raise click.ClickException(f"unknown table(s) {unknown}; choose from {', '.join(_TABLES)}")
    return names


@db.command("export-archived")
@click.option(
    "--output-path",
    required=True,
    type=click.Path(file_okay=False),
    help="The path to the output directory to export the cleaned data.",
)
@click.option(
    "--export-format",
    type=click.Choice(["csv"]),
    default="csv",
    show_default=True,
    help="The file format to export the cleaned data.",
)
@_tables_option("Table names to export (comma-separated list).")
@click.option(
    "--drop-archives",
    is_flag=True,
    help="Drop the archive tables after exporting. Use with caution.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm. Use with care!")
def export_archived_cmd(
    output_path: str, export_format: str, tables: str | None, drop_archives: bool, yes: bool
) -> None:
    """Export archived data from the archive tables (made by `db clean`) to CSV files."""
    import csv
    from pathlib import Path

    from aerovane.db.engine import create_session
    from aerovane.services.db_cleanup import archive_rows, archive_tables, drop_archive_table

    del export_format  # csv is the only format, as in Airflow
    target = Path(output_path)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"Cannot create {output_path}: {exc}") from None
    with create_session(readonly=True) as session:
        names = archive_tables(session=session, tables=_chosen_tables(tables))
        for name in names:
            columns, rows = archive_rows(name, session=session)
            with (target / f"{name}.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                writer.writerows(rows)
            click.echo(f"Exported {len(rows)} row(s) of {name} to {target / (name + '.csv')}")
    if drop_archives and names:
        if not yes:
            click.confirm(f"Drop {len(names)} archive table(s)?", abort=True)
        with create_session() as session:
            for name in names:
                drop_archive_table(name, session=session)
        click.echo(f"Dropped {len(names)} archive table(s)")


@db.command("drop-archived")
@_tables_option("Table names whose archives to drop (comma-separated list).")
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm. Use with care!")
def drop_archived_cmd(tables: str | None, yes: bool) -> None:
    """Drop archived tables created through the db clean command."""
    from aerovane.db.engine import create_session
    from aerovane.services.db_cleanup import archive_tables, drop_archive_table

    with create_session(readonly=True) as session:
        names = archive_tables(session=session, tables=_chosen_tables(tables))
    if not names:
        click.echo("No archive tables to drop")
        return
    if not yes:
        click.confirm(f"Drop {len(names)} archive table(s): {', '.join(names)}?", abort=True)
    with create_session() as session:
        for name in names:
            drop_archive_table(name, session=session)
    click.echo(f"Dropped {len(names)} archive table(s)")


def register(cli: click.Group) -> None:
    cli.add_command(db)
