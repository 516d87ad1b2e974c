"""`aerovane pools get|set|delete|list|import|export`, as Airflow 2's `airflow pools`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aerovane.cli.output import emit, output_option

COLUMNS = ["pool", "slots", "description", "include_deferred"]


def _row(pool: Any) -> dict[str, Any]:
    return {
        "pool": pool.pool,
        "slots": pool.slots,
        "description": pool.description,
        "include_deferred": pool.include_deferred,
    }


@click.group("pools")
def pools() -> None:
    """Manage pools."""


@pools.command("list")
@output_option
def list_cmd(output: str) -> None:
    """List pools."""
    from aerovane.db.engine import create_session
    from aerovane.services.pools import list_pools

    with create_session(readonly=True) as session:
        rows = [_row(p) for p in list_pools(session=session)]
    emit(rows, COLUMNS, output)


@pools.command("get")
@click.argument("pool")
@output_option
def get_cmd(pool: str, output: str) -> None:
    """Get pool size."""
    from aerovane.db.engine import create_session
    from aerovane.services.pools import get_pool

    with create_session(readonly=True) as session:
        rows = [_row(get_pool(pool, session=session))]
    emit(rows, COLUMNS, output)


def _set(
    name: str, slots: int, description: str | None, include_deferred: bool, session: Any
) -> None:
    from aerovane.services.errors import NotFound
    from aerovane.services.pools import create_pool, get_pool, update_pool

    values = {
        "name": name,
        "slots": slots,
        "description": description,
        "include_deferred": include_deferred,
    }
    try:
        get_pool(name, session=session)
    except NotFound:
        create_pool(values, session=session)
    else:
        update_pool(name, values, session=session)


@pools.command("set")
@click.argument("pool")
@click.argument("slots", type=int)
@click.argument("description")
@click.option(
    "--include-deferred", is_flag=True, help="Include deferred tasks in calculations for Pool."
)
@output_option
def set_cmd(pool: str, slots: int, description: str, include_deferred: bool, output: str) -> None:
    """Configure pool."""
    from aerovane.db.engine import create_session
    from aerovane.services.pools import get_pool

    with create_session() as session:
        _set(pool, slots, description, include_deferred, session)
        rows = [_row(get_pool(pool, session=session))]
    emit(rows, COLUMNS, output)


@pools.command("delete")
@click.argument("pool")
@output_option
def delete_cmd(pool: str, output: str) -> None:
    """Delete pool."""
    from aerovane.db.engine import create_session
    from aerovane.services.pools import delete_pool, get_pool

    with create_session() as session:
        rows = [_row(get_pool(pool, session=session))]
        delete_pool(pool, session=session)
    emit(rows, COLUMNS, output)


@pools.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
def import_cmd(file: str) -> None:
    """Import pools from a JSON file.

    Each name maps to {"slots": 1, "description": "", "include_deferred": false}.
    """
    from aerovane.db.engine import create_session

    try:
        data = json.loads(Path(file).read_text())
    except FileNotFoundError:
        raise click.ClickException(f"Missing pools file {file}") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"Invalid pools file {file}: {exc}") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{file} must hold a JSON object of pools")
    bad = [
        name
        for name, spec in data.items()
        if not (
            isinstance(spec, dict) and isinstance(spec.get("slots"), int) and "description" in spec
        )
    ]
    if bad:
        raise click.ClickException(
            f"Failed to update pool(s): {', '.join(sorted(bad))} "
            "(each needs integer slots and a description)"
        )
    with (
        create_session() as session,
        click.progressbar(data.items(), label="Importing pools") as items,
    ):
        for name, spec in items:
            _set(
                name,
                spec["slots"],
                spec["description"],
                bool(spec.get("include_deferred", False)),
                session,
            )
    click.echo(f"Uploaded {len(data)} pool(s)")


@pools.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def export_cmd(file: str) -> None:
    """Export all pools to a JSON file."""
    from aerovane.db.engine import create_session
    from aerovane.services.pools import list_pools

    with create_session(readonly=True) as session:
        data = {
            p.pool: {
                "slots": p.slots,
                "description": p.description,
                "include_deferred": p.include_deferred,
            }
            for p in list_pools(session=session)
        }
    try:
        Path(file).write_text(json.dumps(data, sort_keys=True, indent=4))
    except OSError as exc:
        raise click.ClickException(f"Cannot write {file}: {exc}") from None
    click.echo(f"Exported {len(data)} pools to {file}")


def register(cli: click.Group) -> None:
    cli.add_command(pools)
