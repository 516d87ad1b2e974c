"""`aerovane info` (what Airflow's `airflow info` shows) and `aerovane cheat-sheet`.

`info` never shows a secret: the database URL has its password hidden, and `--anonymize`
also hides user names and home paths, for pasting into an issue.
"""

from __future__ import annotations

import getpass
import locale
import os
import platform
import shutil
import sys
from typing import Any

import click

from aerovane.cli.output import emit, output_option


def _database_url(raw: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(raw).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown by its scheme only
        return raw.split(":", 1)[0] + ":…"


def _sections() -> dict[str, dict[str, Any]]:
    from aerovane import __version__
    from aerovane.config import get_settings

    settings = get_settings()
    uname = platform.uname()
    aerovane_on_path = shutil.which("aerovane") is not None
    return {
        "Aerovane info": {
            "version": __version__,
            "executor": settings.getstr("core", "executor"),
            "sql_alchemy_conn": _database_url(settings.sql_alchemy_conn),
            "dags_folder": str(settings.dags_folder),
            "base_log_folder": str(settings.base_log_folder),
        },
        "System info": {
            "OS": uname.system,
            "architecture": platform.machine(),
            "uname": str(tuple(uname)),
            "locale": str(locale.getlocale()),
            "python_version": sys.version.replace("\n", " "),
            "python_location": sys.executable,
        },
        "Tools info": {
            tool: shutil.which(tool) or "NOT AVAILABLE"
            for tool in ("git", "psql", "sqlite3", "dot")
        },
        "Paths info": {
            "aerovane_home": os.environ.get("AEROVANE_HOME", ""),
            "system_path": os.environ.get("PATH", ""),
            "python_path": os.pathsep.join(sys.path),
            "aerovane_on_path": aerovane_on_path,
        },
    }


def _anonymize(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    home = os.path.expanduser("~")
    if home and home != "~":
        value = value.replace(home, "${HOME}")
    user = getpass.getuser()
    return value.replace(user, "...") if user else value


@click.command("info")
@click.option(
    "--anonymize",
    is_flag=True,
    help="Minimize any personal identifiable information. Use it when sharing output with others.",
)
@click.option(
    "--file-io",
    is_flag=True,
    help="Send output to file.io service and returns link (not supported: Aerovane never uploads).",
)
@output_option
def info(anonymize: bool, file_io: bool, output: str) -> None:
    """Show information about current Aerovane and environment."""
    if file_io:
        raise click.ClickException("--file-io is not supported: Aerovane does not upload anything")
    sections = _sections()
    if anonymize:
        sections = {
            name: {k: _anonymize(v) for k, v in rows.items()} for name, rows in sections.items()
        }
    if output in ("json", "yaml"):
        emit([sections], list(sections), output)
        return
    for name, rows in sections.items():
        if output == "table":
            click.echo(name)
        emit([{"key": k, "value": v} for k, v in rows.items()], ["key", "value"], output)
        if output == "table":
            click.echo("")


def _walk(group: click.Group, ctx: click.Context, prefix: str) -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = []
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        if isinstance(command, click.Group):
            entries += _walk(command, ctx, f"{prefix}{name} ")
        else:
            entries.append((f"{prefix}{name}", command.get_short_help_str(limit=80)))
    return entries


@click.command("cheat-sheet")
@click.pass_context
def cheat_sheet(ctx: click.Context) -> None:
    """Display cheat sheet: every command with its one-line help."""
    root = ctx.find_root().command
    assert isinstance(root, click.Group)
    entries = _walk(root, ctx.find_root(), "aerovane ")
    width = max(len(command) for command, _ in entries)
    top_level = [(c, h) for c, h in entries if c.count(" ") == 1]
    grouped: dict[str, list[tuple[str, str]]] = {}
    for command, help_text in entries:
        if command.count(" ") > 1:
            grouped.setdefault(command.split(" ")[1], []).append((command, help_text))
    click.echo("Miscellaneous commands")
    for command, help_text in top_level:
        click.echo(f"  {command.ljust(width)}  {help_text}")
    for group_name, rows in grouped.items():
        click.echo(f"\n{group_name.capitalize()} commands")
        for command, help_text in rows:
            click.echo(f"  {command.ljust(width)}  {help_text}")


def register(cli: click.Group) -> None:
    cli.add_command(info)
    cli.add_command(cheat_sheet)
