"""`aerovane variables get|set|delete|list|import|export`, as Airflow 2's `airflow variables`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aerovane.cli.output import emit, output_option


@click.group("variables")
def variables() -> None:
    """Manage variables."""


@variables.command("get")
@click.argument("key")
@click.option("-j", "--json", "as_json", is_flag=True, help="Deserialize JSON variable.")
@click.option(
    "-d", "--default", default=None, help="Default value returned if variable does not exist."
)
def get_cmd(key: str, as_json: bool, default: str | None) -> None:
    """Get variable."""
    from aerovane.db.engine import create_session
    from aerovane.services.errors import NotFound
    from aerovane.services.variables import get_variable, stored_value

    with create_session(readonly=True) as session:
        try:
            value = stored_value(get_variable(key, session=session))
        except NotFound:
            if default is None:
                raise click.ClickException(f"Variable {key} does not exist") from None
            value = default
    if as_json and value is not None:
        try:
            click.echo(json.dumps(json.loads(value), indent=2))
        except ValueError:
            raise click.ClickException(f"Variable {key} is not valid JSON") from None
        return
    click.echo(value)


@variables.command("set")
@click.argument("key")
@click.argument("value")
@click.option(
    "--description", default=None, help="Variable description, optional when setting a variable."
)
@click.option("-j", "--json", "as_json", is_flag=True, help="Serialize JSON variable.")
def set_cmd(key: str, value: str, description: str | None, as_json: bool) -> None:
    """Set variable."""
    from aerovane.db.engine import create_session
    from aerovane.services.variables import set_variable

    if as_json:
        try:
            value = json.dumps(json.loads(value), indent=2)
        except ValueError:
            raise click.ClickException(
                f"--json was given but the value is not JSON: {value!r}"
            ) from None
    with create_session() as session:
        set_variable(key, value, description=description, session=session)
    click.echo(f"Variable {key} created")


@variables.command("delete")
@click.argument("key")
def delete_cmd(key: str) -> None:
    """Delete variable."""
    from aerovane.db.engine import create_session
    from aerovane.services.variables import delete_variable

    with create_session() as session:
        delete_variable(key, session=session)
    click.echo(f"Variable {key} deleted")


@variables.command("list")
@output_option
def list_cmd(output: str) -> None:
    """List variables."""
    from aerovane.db.engine import create_session
    from aerovane.services.variables import list_variables

    with create_session(readonly=True) as session:
        rows = [{"key": row.key} for row in list_variables(session=session)]
    emit(rows, ["key"], output)


def _read_json_file(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise click.ClickException(f"Missing {what} file: {path}") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"Failed to load {what} file {path}: {exc}") from None


@variables.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-a",
    "--action-on-existing-key",
    type=click.Choice(["overwrite", "fail", "skip"]),
    default="overwrite",
    show_default=True,
    help="Action to take if we encounter a variable key that already exists.",
)
def import_cmd(file: str, action_on_existing_key: str) -> None:
    """Import variables from a JSON file.

    The file maps keys to values, or to {"value": ..., "description": ...}.
    """
    from aerovane.db.engine import create_session
    from aerovane.services.variables import list_variables, set_variable

    data = _read_json_file(file, "variables")
    if not isinstance(data, dict):
        raise click.ClickException(f"{file} must hold a JSON object of variables")
    entries: dict[str, tuple[str, str | None]] = {}
    for key, item in data.items():
        description = None
        if isinstance(item, dict) and "value" in item:
            description = item.get("description")
            item = item["value"]
        entries[key] = (item if isinstance(item, str) else json.dumps(item, indent=2), description)
    imported = skipped = 0
    with create_session() as session:
        existing = {row.key for row in list_variables(session=session)}
        clashing = sorted(existing & entries.keys())
        if clashing and action_on_existing_key == "fail":
            raise click.ClickException(f"Failed. These keys: {clashing} already exist.")
        with click.progressbar(entries.items(), label="Importing variables") as items:
            for key, (value, description) in items:
                if key in existing and action_on_existing_key == "skip":
                    skipped += 1
                    continue
                set_variable(key, value, description=description, session=session)
                imported += 1
    click.echo(f"{imported} of {len(entries)} variables successfully updated.")
    if skipped:
        click.echo(f"{skipped} variable(s) skipped.")


@variables.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def export_cmd(file: str) -> None:
    """Export all variables to a JSON file (values decrypted; JSON values as JSON)."""
    from aerovane.db.engine import create_session
    from aerovane.services.variables import list_variables, stored_value

    exported: dict[str, Any] = {}
    with create_session(readonly=True) as session:
        for row in list_variables(session=session):
            value = stored_value(row)
            try:
                exported[row.key] = json.loads(value) if value is not None else None
            except ValueError:
                exported[row.key] = value
    target = Path(file)
    try:
        target.write_text(json.dumps(exported, sort_keys=True, indent=4))
        target.chmod(0o600)  # the values are decrypted
    except OSError as exc:
        raise click.ClickException(f"Cannot write {file}: {exc}") from None
    click.echo(f"{len(exported)} variables successfully exported to {file}")


def register(cli: click.Group) -> None:
    cli.add_command(variables)
