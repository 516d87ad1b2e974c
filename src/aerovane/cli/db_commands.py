"""`aerovane db`: migrate (init, upgrade), downgrade, check, check-migrations, shell, reset,
clean and its archives, with Airflow 2's flags."""

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


def _migrate_options(fn: F) -> F:
    fn = click.option(
        "-s",
        "--show-sql-only",
        is_flag=True,
        help="Don't actually run migrations; just print out sql scripts for offline migration.",
    )(fn)
    fn = click.option(
        "--from-revision",
        default=None,
        help="(Optional) If generating sql, may supply a *from* Alembic revision.",
    )(fn)
    fn = click.option(
        "-r",
        "--to-revision",
        default=None,
        help="(Optional) If provided, only run migrations up to and including this Alembic "
        "revision (`aerovane db migrate --help` lists them).",
    )(fn)
    return fn


def _migrate(to_revision: str | None, from_revision: str | None, show_sql_only: bool) -> None:
    from aerovane.config import ensure_home
    from aerovane.db.migrate import head_revision, migrate, upgrade_to

    if from_revision and not show_sql_only:
        raise click.ClickException("--from-revision only goes with --show-sql-only")
    ensure_home()
    if show_sql_only or to_revision:
        sql = _revision_call(upgrade_to, to_revision or "head", show_sql_only, from_revision)
        if sql is not None:
            click.echo(sql, nl=False)
            return
        click.echo(f"Database migrated to {to_revision}.")
        return
    applied = migrate()
    click.echo(f"Database migrated to {head_revision()}." if applied else "Database is up to date.")


def _revision_call(
    fn: Callable[..., str | None], revision: str, sql_only: bool, from_revision: str | None
) -> str | None:
    try:
        if from_revision:
            return fn(revision, sql_only=sql_only, from_revision=from_revision)
        return fn(revision, sql_only=sql_only)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@db.command("migrate")
@_migrate_options
def migrate_cmd(to_revision: str | None, from_revision: str | None, show_sql_only: bool) -> None:
    """Migrates the metadata database to the latest version.

    Create the schema if it does not exist yet. Revisions are Aerovane's (0001, 0002, ...),
    not Airflow's."""
    _migrate(to_revision, from_revision, show_sql_only)


@db.command("upgrade")
@_migrate_options
def upgrade_cmd(to_revision: str | None, from_revision: str | None, show_sql_only: bool) -> None:
    """Upgrade the metadata database to latest version (deprecated: use `db migrate`)."""
    click.echo(
        "DeprecationWarning: `db upgrade` is deprecated. Use `db migrate` instead.", err=True
    )
    _migrate(to_revision, from_revision, show_sql_only)


@db.command("init")
def init_cmd() -> None:
    """Initialize the metadata database (deprecated: use `db migrate`)."""
    click.echo("DeprecationWarning: `db init` is deprecated. Use `db migrate` instead.", err=True)
    _migrate(None, None, False)
    click.echo("Initialization done")


@db.command("downgrade")
@click.option(
    "-r",
    "--to-revision",
    default=None,
    help="The Alembic revision to downgrade to (`base`: no tables). Note: must provide either "
    "`--to-revision` or `--to-version`.",
)
@click.option(
    "-n",
    "--to-version",
    default=None,
    help="(Optional) If provided, only run migrations up to this version. Aerovane's "
    "versions carry no schema of Airflow's: the only accepted value is `base`.",
)
@click.option(
    "--from-revision",
    default=None,
    help="(Optional) If generating sql, may supply a *from* Alembic revision.",
)
@click.option(
    "-s",
    "--show-sql-only",
    is_flag=True,
    help="Don't actually run migrations; just print out sql scripts for offline migration. "
    "Required if using either `--from-revision` or `--from-version`.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm. Use with care!")
def downgrade_cmd(
    to_revision: str | None,
    to_version: str | None,
    from_revision: str | None,
    show_sql_only: bool,
    yes: bool,
) -> None:
    """Downgrade the schema of the metadata database.

    You must provide either `--to-revision` or `--to-version`. To print but not execute
    commands, use option `--show-sql-only`."""
    from aerovane.db.migrate import current_revision, downgrade_to

    if bool(to_revision) == bool(to_version):
        raise click.ClickException("Must provide either --to-revision or --to-version.")
    if from_revision and not show_sql_only:
        raise click.ClickException("--from-revision only goes with --show-sql-only")
    if to_version and to_version != "base":
        raise click.ClickException(
            f"unknown version {to_version!r}: Aerovane's schema has its own revisions "
            "(pass -r with one of them, or -n base)"
        )
    revision = to_revision or "base"
    if not show_sql_only and not yes:
        click.confirm(
            f"Performing downgrade with database {_safe_url()}\n"
            "Warning: About to reverse schema migrations for the airflow metastore. Please "
            "ensure you have backed up your database before any upgrade or downgrade "
            "operation. Proceed?",
            abort=True,
        )
    if not show_sql_only:
        click.echo(f"Downgrading from {current_revision()} to {revision}.")
    sql = _revision_call(downgrade_to, revision, show_sql_only, from_revision)
    if sql is not None:
        click.echo(sql, nl=False)
        return
    click.echo("Downgrade complete")


def _safe_url() -> str:
    from aerovane.db.engine import get_engine

    return get_engine().url.render_as_string(hide_password=True)


@db.command("check")
@click.option(
    "--retry",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Retry database check upon failure.",
)
@click.option(
    "--retry-delay",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Wait time between retries in seconds.",
)
def check_cmd(retry: int, retry_delay: int) -> None:
    """Check if the database can be reached (and is at the newest schema)."""
    import time

    from aerovane.db.migrate import check

    ok, message = check()
    for _ in range(retry):
        if ok:
            break
        time.sleep(retry_delay)
        ok, message = check()
    click.echo(message, err=not ok)
    sys.exit(0 if ok else 1)


@db.command("check-migrations")
@click.option(
    "-t",
    "--migration-wait-timeout",
    type=click.IntRange(min=0),
    default=60,
    show_default=True,
    help="Timeout to wait for db to migrate.",
)
def check_migrations_cmd(migration_wait_timeout: int) -> None:
    """Check if migration have finished (or continually check until timeout)."""
    import time

    from aerovane.db.migrate import current_revision, head_revision

    head = head_revision()
    deadline = time.monotonic() + migration_wait_timeout
    while True:
        try:
            current = current_revision()
        except Exception:  # noqa: BLE001 - not reachable yet: keep waiting like Airflow
            current = None
        if current == head:
            click.echo("DB migrations are done.")
            return
        if time.monotonic() >= deadline:
            raise click.ClickException(
                f"There are still unapplied migrations after {migration_wait_timeout} seconds "
                f"(schema at {current or 'nothing'}, expected {head}): run `aerovane db migrate`."
            )
        click.echo(f"Waiting for migrations... {int(deadline - time.monotonic())} second(s)")
        time.sleep(1)


@db.command("shell")
def shell_cmd() -> None:
    """Runs a shell to access the database (sqlite3 or psql)."""
    import os
    import shutil
    import subprocess

    from aerovane.db.engine import get_engine

    url = get_engine().url
    env = dict(os.environ)
    if url.get_backend_name() == "sqlite":
        argv = ["sqlite3", url.database or ""]
    elif url.get_backend_name() == "postgresql":
        argv = ["psql"]
        env.update(
            {
                "PGHOST": url.host or "",
                "PGPORT": str(url.port or ""),
                "PGUSER": url.username or "",
                "PGDATABASE": url.database or "",
            }
        )
        if url.password:
            env["PGPASSWORD"] = url.password  # the child's environment, never printed
    else:
        raise click.ClickException(f"unsupported database {url.get_backend_name()!r}")
    if shutil.which(argv[0]) is None:
        raise click.ClickException(f"{argv[0]} is not installed (needed by `db shell`)")
    sys.exit(subprocess.call(argv, env=env))


@db.command("reset")
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm. Use with care!")
@click.option("-s", "--skip-init", is_flag=True, help="Only remove tables; do not perform db init.")
def reset_cmd(yes: bool, skip_init: bool) -> None:
    """Burn down and rebuild the metadata database."""
    from aerovane.config import ensure_home
    from aerovane.db.migrate import reset

    if not yes:
        click.confirm("This drops every table of the metadata database. Continue?", abort=True)
    ensure_home()
    reset(skip_init=skip_init)
    click.echo("Database reset." if not skip_init else "Tables dropped.")


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
