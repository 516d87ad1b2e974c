"""The `aerovane` command. Commands parse arguments, call services, and print; errors are one
line on stderr with a non-zero exit code."""

from __future__ import annotations

import gc
import sys

import click

from aerovane import __version__


class AerovaneGroup(click.Group):
    """Turns expected errors into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from sqlalchemy.exc import InterfaceError, OperationalError

        from aerovane.config import ConfigError
        from aerovane.services.errors import ServiceError

        try:
            return super().invoke(ctx)
        except (ConfigError, ServiceError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except (OperationalError, InterfaceError) as exc:
            click.echo(f"Error: {_database_error(exc)}", err=True)
            sys.exit(1)


def _database_error(exc: Exception) -> str:
    """One line: which database (password hidden), what its driver said, what to check."""
    from sqlalchemy.engine import make_url

    from aerovane.config import get_settings

    raw = get_settings().getstr("database", "sql_alchemy_conn")
    try:
        url = make_url(raw).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown by its scheme only
        url = raw.split(":", 1)[0] + ":…"
    cause = getattr(exc, "orig", None) or exc
    reason = " ".join(str(cause).split())  # the driver's message, on one line
    return (
        f"the metadata database {url} failed ({reason}); check that it is running and "
        "reachable, or fix [database] sql_alchemy_conn (AEROVANE__DATABASE__SQL_ALCHEMY_CONN)"
    )


_NOT_YET = (
    "Not yet from Airflow 2's CLI: connections create-default-connections, kerberos, "
    "internal-api, webserver (api-server serves the API), the kubernetes group; "
    "see docs/cli-coverage.md."
)


@click.group(
    cls=AerovaneGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=_NOT_YET,
)
@click.version_option(__version__, prog_name="aerovane")
def cli() -> None:
    """Aerovane: a workflow orchestrator that speaks Apache Airflow 2's REST APIs."""


def _register() -> None:
    from aerovane.cli import (
        celery_commands,
        config_commands,
        connections_commands,
        dags_commands,
        db_commands,
        environments_commands,
        info_commands,
        jobs_commands,
        plugins_commands,
        pools_commands,
        roles_commands,
        servers,
        tasks_commands,
        users_commands,
        variables_commands,
    )

    for module in (
        servers,
        db_commands,
        config_commands,
        dags_commands,
        tasks_commands,
        variables_commands,
        connections_commands,
        pools_commands,
        users_commands,
        roles_commands,
        environments_commands,
        info_commands,
        jobs_commands,
        plugins_commands,
        celery_commands,
    ):
        module.register(cli)
    from aerovane.cli import auth_commands, iam_commands  # the identity issue's commands

    for module in (iam_commands, auth_commands):
        module.register(cli)
    from aerovane.cli import airflow_flags

    airflow_flags.apply(cli)


def main() -> None:
    # Start-up creates hundreds of thousands of objects that live as long as the process; the
    # cyclic collector scanning them again and again costs ~15% of start-up. Short commands end
    # before it would matter; long-running ones turn it back on once started
    # (`components.startup_finished`).
    gc.disable()
    _register()
    cli(prog_name="aerovane")
