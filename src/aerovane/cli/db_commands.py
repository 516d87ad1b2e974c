"""`aerovane db migrate|check|reset`."""

from __future__ import annotations

import sys

import click


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


def register(cli: click.Group) -> None:
    cli.add_command(db)
