"""`aerovane config get-value|list`."""

from __future__ import annotations

import click


@click.group("config")
def config() -> None:
    """Read the effective configuration."""


@config.command("get-value")
@click.argument("section")
@click.argument("key")
def get_value(section: str, key: str) -> None:
    """Print one option's effective value."""
    from aerovane.config import OPTION_INDEX, SECTIONS, ConfigError, get_settings

    if section not in SECTIONS:
        raise ConfigError(f"[{section}]: unknown section; known sections: {', '.join(SECTIONS)}")
    if (section, key) not in OPTION_INDEX:
        raise ConfigError(f"[{section}] {key}: unknown option")
    click.echo(get_settings().raw(section, key))


@config.command("list")
@click.option("--section", default=None, help="Only this section.")
@click.option("--show-sources", is_flag=True, help="Say where each value comes from.")
def list_cmd(section: str | None, show_sources: bool) -> None:
    """Print the effective configuration as INI; secrets are masked."""
    from aerovane.config import get_settings

    current = None
    for option, value, source in get_settings().items():
        if section and option.section != section:
            continue
        if option.section != current:
            if current is not None:
                click.echo("")
            click.echo(f"[{option.section}]")
            current = option.section
        suffix = f"  # {source}" if show_sources else ""
        click.echo(f"{option.key} = {value}{suffix}")


def register(cli: click.Group) -> None:
    cli.add_command(config)
