"""Printing rows the same way in every command: Airflow's `-o table|json|yaml|plain`.

Tables never cut a value: in a terminal a long id folds onto the next line instead of ending in
`…`, and when stdout is not a terminal the table is as wide as its widest row.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

FORMATS = ("table", "json", "yaml", "plain")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """`rows` (only `columns`) as text in `fmt`."""
    picked = [{c: row.get(c) for c in columns} for row in rows]
    if fmt == "json":
        return json.dumps(picked, indent=2, default=str)
    if fmt == "yaml":
        import yaml

        plain = json.loads(json.dumps(picked, default=str))
        return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False).rstrip("\n")
    if fmt == "plain":
        return "\n".join("\t".join(_text(row[c]) for c in columns) for row in picked)
    return _table(picked, columns)


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(*(_text(row[c]) for c in columns))
    if sys.stdout.isatty():
        width = None
    else:
        widest = [max([len(c)] + [len(_text(row[c])) for row in rows]) for c in columns]
        width = sum(widest) + 3 * len(columns) + 1
    console = Console(width=width, force_terminal=False, color_system=None, highlight=False)
    with console.capture() as captured:
        console.print(table)
    return captured.get().rstrip("\n")


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> None:
    click.echo(render(rows, columns, fmt))


output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
