"""Printing tables and JSON the same way in every command."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    if fmt == "plain":
        for row in rows:
            click.echo("\t".join("" if row.get(c) is None else str(row.get(c)) for c in columns))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console().print(table)


output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "plain"]),
    default="table",
    show_default=True,
    help="Output format.",
)
