"""`-v/--verbose` and `-S/--subdir` on the commands where Airflow 2.10 has them, so scripts
written for `airflow` run unchanged.

`-v` turns on debug logging. `-S` is honoured by the commands that import DAG files (`dags
test`, `dags report`, `dags reserialize`, `tasks test`, `tasks render`); the others read DAGs
from the metadata database (what the DAG processor parsed from `[core] dags_folder`), so there
it is accepted and has nothing to select.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import click

VERBOSE_HELP = "Make logging output more verbose."
SUBDIR_FROM_DB_HELP = (
    "Accepted for Airflow compatibility: this command reads the DAG from the metadata database "
    "(as parsed from [core] dags_folder)."
)

#: (group, command) → whether Airflow gives it `-S/--subdir` (all of these have `-v`).
AIRFLOW_FLAGS: dict[tuple[str, ...], bool] = {
    ("dags", "details"): False,
    ("dags", "list"): True,
    ("dags", "list-import-errors"): True,
    ("dags", "list-runs"): False,
    ("dags", "list-jobs"): False,
    ("dags", "state"): True,
    ("dags", "next-execution"): True,
    ("dags", "pause"): True,
    ("dags", "unpause"): True,
    ("dags", "trigger"): True,
    ("dags", "delete"): False,
    ("dags", "show"): True,
    ("dags", "backfill"): True,
    ("dags", "report"): True,
    ("dags", "test"): True,
    ("tasks", "list"): True,
    ("tasks", "clear"): True,
    ("tasks", "state"): True,
    ("tasks", "failed-deps"): True,
    ("tasks", "render"): True,
    ("tasks", "test"): True,
    ("tasks", "states-for-dag-run"): False,
    ("pools", "list"): False,
    ("pools", "get"): False,
    ("pools", "set"): False,
    ("pools", "delete"): False,
    ("pools", "import"): False,
    ("pools", "export"): False,
    ("variables", "list"): False,
    ("variables", "get"): False,
    ("variables", "set"): False,
    ("variables", "delete"): False,
    ("variables", "import"): False,
    ("variables", "export"): False,
    ("db", "init"): False,
    ("db", "reset"): False,
    ("db", "upgrade"): False,
    ("db", "migrate"): False,
    ("db", "downgrade"): False,
    ("db", "shell"): False,
    ("db", "check"): False,
    ("db", "check-migrations"): False,
    ("db", "clean"): False,
    ("connections", "get"): False,
    ("connections", "list"): False,
    ("connections", "delete"): False,
    ("connections", "export"): False,
    ("connections", "import"): False,
    ("connections", "test"): False,
    ("providers", "list"): False,
    ("providers", "get"): False,
    ("config", "get-value"): False,
    ("config", "list"): False,
    ("jobs", "check"): False,
    ("cheat-sheet",): False,
    ("info",): False,
    ("plugins",): False,
}


def _option_names(command: click.Command) -> set[str]:
    return {name for param in command.params for name in getattr(param, "opts", ())}


def add_airflow_flags(command: click.Command, *, subdir: bool) -> None:
    """Give `command` the `-v` (and `-S`) it lacks; its callback never sees the added ones."""
    names = _option_names(command)
    added: list[str] = []
    if "--verbose" not in names:
        decls = ["--verbose"] if "-v" in names else ["-v", "--verbose"]
        command.params.append(click.Option(decls, is_flag=True, help=VERBOSE_HELP))
        added.append("verbose")
    if subdir and "--subdir" not in names:
        decls = ["--subdir"] if "-S" in names else ["-S", "--subdir"]
        command.params.append(click.Option(decls, default=None, help=SUBDIR_FROM_DB_HELP))
        added.append("subdir")
    if not added or command.callback is None:
        return
    callback = command.callback

    @functools.wraps(callback)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        verbose = kwargs.pop("verbose") if "verbose" in added else kwargs.get("verbose")
        if "subdir" in added:
            kwargs.pop("subdir")
        if verbose:
            logging.basicConfig(level=logging.DEBUG)
            logging.getLogger().setLevel(logging.DEBUG)
        return callback(*args, **kwargs)

    command.callback = wrapped


def apply(cli: click.Group) -> None:
    """`add_airflow_flags` on every command of `AIRFLOW_FLAGS` that is registered."""
    for path, subdir in AIRFLOW_FLAGS.items():
        command: click.Command | None = cli
        for name in path:
            command = command.commands.get(name) if isinstance(command, click.Group) else None
        if command is not None and not getattr(command, "_airflow_flags", False):
            add_airflow_flags(command, subdir=subdir)
            command._airflow_flags = True  # type: ignore[attr-defined]  # once per process
