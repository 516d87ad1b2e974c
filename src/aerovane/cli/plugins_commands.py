"""`aerovane plugins`, `aerovane providers` and `aerovane rotate-fernet-key`, as Airflow 2's."""

from __future__ import annotations

import click

from aerovane.cli.output import emit, output_option

_PLUGIN_COLUMNS = (
    "name",
    "hooks",
    "executors",
    "macros",
    "flask_blueprints",
    "appbuilder_views",
    "appbuilder_menu_items",
    "global_operator_extra_links",
    "operator_extra_links",
    "source",
    "ti_deps",
    "listeners",
    "timetables",
)


@click.command("plugins")
@output_option
def plugins(output: str) -> None:
    """Dump information about loaded plugins (from `[core] plugins_folder`)."""
    from aerovane.authoring.plugins import plugin_info

    rows = plugin_info()
    if not rows:
        click.echo("No plugins loaded")
        return
    columns = [c for c in _PLUGIN_COLUMNS if any(row.get(c) for row in rows)]
    emit(rows, columns or ["name"], output)


@click.group("providers")
def providers() -> None:
    """Display providers.

    Aerovane implements the operators, hooks and sensors DAG files import from Airflow
    itself (see `aerovane info`); it installs no provider packages, so these lists are empty,
    as the API's /providers is."""


@providers.command("list")
@output_option
def providers_list(output: str) -> None:
    """List installed providers."""
    emit([], ["package_name", "description", "version"], output)


@providers.command("get")
@click.argument("provider_name")
@click.option("--full", "-f", is_flag=True, help="Full information about the provider.")
@click.option("--color", type=click.Choice(["auto", "on", "off"]), default="auto", hidden=True)
@output_option
def providers_get(provider_name: str, full: bool, color: str, output: str) -> None:
    """Get detailed information about a provider."""
    raise click.ClickException(f"No such provider installed: {provider_name}")


@click.command("rotate-fernet-key")
def rotate_fernet_key() -> None:
    """Rotate encrypted connection credentials and variables.

    Set `[core] fernet_key` to `new_key,old_key` first; afterwards every secret is encrypted
    with the new key and the old one can be dropped."""
    from aerovane.db.engine import create_session
    from aerovane.services.fernet import rotate_fernet_key as rotate

    with create_session() as session:
        counts = rotate(session=session)
    click.echo(
        f"Re-encrypted {counts['connection']} connection(s), {counts['variable']} variable(s) "
        f"and {counts['signing_key']} signing key(s) with the first [core] fernet_key."
    )


def register(cli: click.Group) -> None:
    cli.add_command(plugins)
    cli.add_command(providers)
    cli.add_command(rotate_fernet_key)
