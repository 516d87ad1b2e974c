"""`aerovane environments describe|list|update|run`, shaped like `gcloud composer environments`,
and `aerovane projects add-iam-policy-binding|remove-iam-policy-binding|get-iam-policy` to grant
the roles the control plane checks.

The commands are HTTP clients of the control plane (`--api-endpoint`, `AEROVANE_CONTROL_URL`,
or this installation's API server, which is not behind the web server's proxy), so they work
from any machine. Access tokens come from a service-account key file in
`GOOGLE_APPLICATION_CREDENTIALS` (or the metadata server in `GCE_METADATA_HOST`) through
google-auth, else from `aerovane auth login` (redeemed at the API server's token endpoint when
the control plane is this installation's). The
`projects` commands work on this installation's database, as `iam service-accounts` does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from aerovane.cli.formatting import FORMATS_HELP, render

OVERRIDES = "config.softwareConfig.airflowConfigOverrides"
ENV_VARIABLES = "config.softwareConfig.envVariables"
NETWORK_ACCESS = "config.webServerNetworkAccessControl"
ALLOW_ALL = [
    {"value": "0.0.0.0/0", "description": "Allows access from all IPv4 addresses (default value)"},
    {"value": "::/0", "description": "Allows access from all IPv6 addresses (default value)"},
]
#: `environments run` gives up after this many failed polls in a row (as gcloud does).
MAX_POLL_ERRORS = 10
LOGIN_TOKEN_REUSE = 1800.0


# -- plumbing --------------------------------------------------------------------------------------


def _login_token_source(token_url: str | None = None) -> Callable[[], str]:
    """Access tokens for the user of `aerovane auth login`, reused for half an hour.

    With `token_url` the refresh token is redeemed there instead of at the token URL of the
    login (the web server's, behind its IP allow-list).
    """
    from aerovane.cli import auth_commands
    from aerovane.identity.project import CLOUD_PLATFORM

    cached: list[tuple[str, float]] = []

    def redeem() -> str:
        record = auth_commands._user_credentials(None) if token_url else None
        if token_url is None or record is None:  # (no login: `_token` says what to do)
            return auth_commands._token(
                "scope", CLOUD_PLATFORM, account=None, impersonate=None, key_file_path=None
            )
        form = {
            "grant_type": "refresh_token",
            "refresh_token": record["refresh_token"],
            "scope": CLOUD_PLATFORM,
        }
        value = auth_commands._post(token_url, form).get("access_token")
        if not isinstance(value, str):
            raise click.ClickException("token endpoint returned no access_token")
        return value

    def token() -> str:
        if not cached or time.monotonic() - cached[0][1] > LOGIN_TOKEN_REUSE:
            cached[:] = [(redeem(), time.monotonic())]
        return cached[0][0]

    return token


def token_source(login_token_url: str | None = None) -> Callable[[], str]:
    """google-auth's credentials when a key file or metadata server is configured, else the
    logged-in user's (redeemed at `login_token_url` when given)."""
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.environ.get("GCE_METADATA_HOST"):
        from aerovane.client.control import google_access_token

        return google_access_token
    return _login_token_source(login_token_url)


def _default_control_url() -> str:
    """The control plane is served by the API server, not through the web server's proxy (as
    Composer's API is not behind the environment's IAP or IP allow-list)."""
    from aerovane.config import get_settings

    settings = get_settings()
    if settings.getboolean("proxy", "enabled"):
        host = settings.getstr("proxy", "api_host")
        return f"http://{host}:{settings.getint('proxy', 'api_port')}"
    return settings.base_url


def _default_project() -> str:
    from aerovane.config import get_settings

    return get_settings().getstr("identity", "project_id")


def _name(name: str, location: str | None, project: str | None) -> str:
    """The environment's resource name from a short name (or a full one, as gcloud allows)."""
    if name.startswith("projects/"):
        return name
    if not location:
        raise click.UsageError("--location is required")
    return f"projects/{project or _default_project()}/locations/{location}/environments/{name}"


@contextmanager
def _client(api_endpoint: str | None) -> Iterator[Any]:
    """A ControlPlaneClient; its errors and google-auth's become one line and exit 1."""
    from aerovane.client.control import ControlPlaneClient, ControlPlaneError

    try:
        from google.auth.exceptions import GoogleAuthError
    except ImportError:  # google-auth is needed for key files only; login tokens work without

        class GoogleAuthError(Exception):  # type: ignore[no-redef]
            pass

    if api_endpoint:
        client = ControlPlaneClient(api_endpoint, token=token_source())
    else:
        # This installation's API server: its own token endpoint too, so that a web server IP
        # allow-list that leaves this machine out cannot lock the administrator out of the
        # control plane that would undo it.
        url = _default_control_url().rstrip("/")
        client = ControlPlaneClient(url, token=token_source(f"{url}/token"))
    try:
        yield client
    except ControlPlaneError as exc:
        raise click.ClickException(str(exc)) from None
    except GoogleAuthError as exc:
        raise click.ClickException(f"cannot get an access token: {exc}") from None
    finally:
        client.close()


def _split(value: str) -> list[str]:
    """gcloud's list syntax: `a,b`, or `^:^a:b` to use another delimiter than the comma."""
    delimiter = ","
    if len(value) >= 3 and value[0] == "^" and "^" in value[1:]:
        end = value.index("^", 1)
        delimiter, value = value[1:end] or ",", value[end + 1 :]
    return [item for item in value.split(delimiter) if item]


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        for item in _split(value):
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise click.UsageError(f"{flag}: expected KEY=VALUE, got {item!r}")
            pairs[key] = text
    return pairs


def _names(values: tuple[str, ...]) -> list[str]:
    return [item for value in values for item in _split(value)]


def _ip_range(value: str) -> dict[str, str]:
    fields = {}
    for item in value.split(","):
        key, sep, text = item.partition("=")
        if not sep or key not in ("ip_range", "description"):
            raise click.UsageError(
                f"--update-web-server-allow-ip: expected ip_range=CIDR[,description=TEXT], "
                f"got {value!r}"
            )
        fields[key] = text
    if "ip_range" not in fields:
        raise click.UsageError("--update-web-server-allow-ip: ip_range is required")
    return {"value": fields["ip_range"], "description": fields.get("description", "")}


location_option = click.option("--location", help="The environment's location, e.g. local.")
project_option = click.option("--project", default=None, help="Default: [identity] project_id.")
endpoint_option = click.option(
    "--api-endpoint",
    envvar="AEROVANE_CONTROL_URL",
    default=None,
    help="The control plane's URL (default: AEROVANE_CONTROL_URL, else the API server).",
)
format_option = click.option(
    "--format", "fmt", default=None, help=f"Output format: {FORMATS_HELP}."
)


@click.group("environments")
def environments() -> None:
    """Describe, update and run commands in environments (like gcloud composer environments)."""


# -- describe, list --------------------------------------------------------------------------------


@environments.command("describe")
@click.argument("name")
@location_option
@project_option
@endpoint_option
@format_option
def describe(
    name: str, location: str | None, project: str | None, api_endpoint: str | None, fmt: str | None
) -> None:
    """Show an environment (default format: yaml)."""
    with _client(api_endpoint) as client:
        click.echo(render(client.get_environment(_name(name, location, project)), fmt))


@environments.command("list")
@click.option("--locations", required=True, help="Comma-separated locations; '-' for all.")
@project_option
@endpoint_option
@format_option
def list_cmd(
    locations: str, project: str | None, api_endpoint: str | None, fmt: str | None
) -> None:
    """List environments (default: a NAME, LOCATION, STATE table)."""
    project = project or _default_project()
    found: list[dict[str, Any]] = []
    with _client(api_endpoint) as client:
        for location in _split(locations):
            found.extend(client.list_environments(f"projects/{project}/locations/{location}"))
    if fmt:
        click.echo(render(found, fmt))
        return
    rows = [
        (env["name"].split("/")[5], env["name"].split("/")[3], env.get("state", ""))
        for env in found
    ]
    _table(("NAME", "LOCATION", "STATE"), rows)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


# -- update ----------------------------------------------------------------------------------------


@environments.command("update")
@click.argument("name")
@location_option
@project_option
@endpoint_option
@click.option(
    "--update-airflow-configs",
    multiple=True,
    metavar="KEY=VALUE,...",
    help="Set Airflow config overrides, KEY as section-key (api-auth_backends).",
)
@click.option("--remove-airflow-configs", multiple=True, metavar="KEY,...")
@click.option("--clear-airflow-configs", is_flag=True, help="Remove every override first.")
@click.option("--update-env-variables", multiple=True, metavar="NAME=VALUE,...")
@click.option("--remove-env-variables", multiple=True, metavar="NAME,...")
@click.option("--clear-env-variables", is_flag=True)
@click.option(
    "--update-web-server-allow-ip",
    multiple=True,
    metavar="ip_range=CIDR,description=TEXT",
    help="Allow only these ranges to reach the web server (repeatable).",
)
@click.option(
    "--clear-web-server-allow-ip",
    "--web-server-deny-all",
    "deny_all",
    is_flag=True,
    help="Allow no one to reach the web server.",
)
@click.option("--web-server-allow-all", is_flag=True, help="Allow everyone (the default).")
@click.option("--async", "run_async", is_flag=True, help="Do not wait for the operation.")
def update(
    name: str,
    location: str | None,
    project: str | None,
    api_endpoint: str | None,
    update_airflow_configs: tuple[str, ...],
    remove_airflow_configs: tuple[str, ...],
    clear_airflow_configs: bool,
    update_env_variables: tuple[str, ...],
    remove_env_variables: tuple[str, ...],
    clear_env_variables: bool,
    update_web_server_allow_ip: tuple[str, ...],
    deny_all: bool,
    web_server_allow_all: bool,
    run_async: bool,
) -> None:
    """Change Airflow config overrides, environment variables or the web server's IP
    allow-list; the change is live within seconds, nothing restarts."""
    kinds = {
        "Airflow configs": update_airflow_configs
        or remove_airflow_configs
        or clear_airflow_configs,
        "environment variables": update_env_variables
        or remove_env_variables
        or clear_env_variables,
        "web server access": update_web_server_allow_ip or deny_all or web_server_allow_all,
    }
    chosen = [kind for kind, given in kinds.items() if given]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one kind of update: Airflow configs, environment variables or web "
            "server access" + (f" (got {', '.join(chosen)})" if chosen else "")
        )
    resource = _name(name, location, project)
    with _client(api_endpoint) as client:
        if chosen[0] == "Airflow configs":
            mask, body = _airflow_configs_patch(
                _pairs(update_airflow_configs, "--update-airflow-configs"),
                _names(remove_airflow_configs),
                clear=clear_airflow_configs,
            )
        elif chosen[0] == "environment variables":
            current = client.get_environment(resource)
            variables = (
                {}
                if clear_env_variables
                else dict(
                    current.get("config", {}).get("softwareConfig", {}).get("envVariables", {})
                )
            )
            for variable in _names(remove_env_variables):
                variables.pop(variable, None)
            variables.update(_pairs(update_env_variables, "--update-env-variables"))
            mask = [ENV_VARIABLES]
            body = {"config": {"softwareConfig": {"envVariables": variables}}}
        else:
            if (
                sum(bool(x) for x in (update_web_server_allow_ip, deny_all, web_server_allow_all))
                > 1
            ):
                raise click.UsageError(
                    "give one of --update-web-server-allow-ip, --clear-web-server-allow-ip "
                    "and --web-server-allow-all"
                )
            ranges = (
                ALLOW_ALL
                if web_server_allow_all
                else []
                if deny_all
                else [_ip_range(value) for value in update_web_server_allow_ip]
            )
            mask = [NETWORK_ACCESS]
            body = {"config": {"webServerNetworkAccessControl": {"allowedIpRanges": ranges}}}
        operation = client.patch_environment(resource, mask, body)
        if run_async:
            click.echo(
                f"Update in progress for environment [{resource}] with operation "
                f"[{operation['name']}].",
                err=True,
            )
            return
        click.echo(f"Waiting for [{operation['name']}] to finish...", err=True, nl=False)
        client.wait_operation(operation)
        click.echo("done.", err=True)
    click.echo(f"Updated environment [{resource}].", err=True)


def _airflow_configs_patch(
    updates: dict[str, str], removals: list[str], *, clear: bool
) -> tuple[list[str], dict[str, Any]]:
    """gcloud's order: clear, then remove, then set; one mask path per key, sorted."""
    body = {"config": {"softwareConfig": {"airflowConfigOverrides": updates}}}
    if clear:
        return [OVERRIDES], body
    keys = sorted(set(removals) | set(updates))
    return [f"{OVERRIDES}.{key}" for key in keys], body


# -- run -------------------------------------------------------------------------------------------


@environments.command(
    "run",
    context_settings={"ignore_unknown_options": True},
)
@click.argument("name")
@location_option
@project_option
@endpoint_option
@click.argument("words", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    location: str | None,
    project: str | None,
    api_endpoint: str | None,
    words: tuple[str, ...],
) -> None:
    """Run an Aerovane CLI command in the environment: SUBCOMMAND [NESTED] -- ARGS.

    Both `run ENV dags trigger -- my_dag` and `run ENV dags -- trigger my_dag` work. Exits
    with the command's exit code.
    """
    command, *rest = words
    subcommand = rest.pop(0) if rest and not rest[0].startswith("-") else ""
    resource = _name(name, location, project)
    with _client(api_endpoint) as client:
        execution = client.execute_airflow_command(resource, command, subcommand, rest)
        if execution.get("error"):
            raise click.ClickException(execution["error"])
        from aerovane.control.commands import redact

        words = [command, *([subcommand] if subcommand else [])]
        shown = " ".join(["aerovane", *words, *redact(command, subcommand or None, rest)])
        click.echo(f"Executing the command: [ {shown} ]...", err=True)
        click.echo(f"Command has been started. execution_id={execution['executionId']}", err=True)
        click.echo("Use ctrl-c to interrupt the command", err=True)
        exit_info = _stream(client, resource, execution)
    if exit_info.get("error"):
        click.echo(f"Error: {exit_info['error']}", err=True)
    code = int(exit_info.get("exitCode", 0))
    click.echo(f"Command exit code: {code}", err=True)
    ctx.exit(code)


def _stream(client: Any, resource: str, execution: dict[str, Any]) -> dict[str, Any]:
    """Print the command's output as it arrives; its exitInfo once it ended.

    Ctrl-C asks the control plane to stop the command (SIGTERM), a second one forces it.
    """
    from aerovane.client.control import ControlPlaneError

    next_line, delay, errors, interrupts = 1, 0.05, 0, 0
    while True:
        try:
            try:
                result = client.poll_airflow_command(resource, execution, next_line)
                errors = 0
            except ControlPlaneError:
                errors += 1
                if errors >= MAX_POLL_ERRORS:
                    raise
                time.sleep(delay)
                continue
            for line in result.get("output", []):
                click.echo(line.get("content", ""))
                next_line = int(line["lineNumber"]) + 1
            if result.get("outputEnd"):
                return result.get("exitInfo") or {}
            delay = 0.05 if result.get("output") else min(delay * 1.5, 1.0)
            time.sleep(delay)
        except KeyboardInterrupt:
            interrupts += 1
            force = interrupts > 1
            click.echo(f"\nStopping the command{' (forced)' if force else ''}...", err=True)
            stopped = client.stop_airflow_command(resource, execution, force=force)
            for message in stopped.get("output", []):
                click.echo(message, err=True)


# -- projects: who may use the control plane -------------------------------------------------------


@click.group("projects")
def projects() -> None:
    """Grant the control plane's roles on a project (like gcloud projects ...-iam-policy-binding).

    Roles: roles/composer.admin, roles/composer.user,
    roles/composer.environmentAndStorageObjectViewer, roles/owner, roles/editor, roles/viewer.
    """


@projects.command("add-iam-policy-binding")
@click.argument("project")
@click.option("--member", required=True, help="user:EMAIL or serviceAccount:EMAIL")
@click.option("--role", required=True, help="e.g. roles/composer.user")
@format_option
def add_iam_policy_binding(project: str, member: str, role: str, fmt: str | None) -> None:
    """Grant ROLE on PROJECT to MEMBER (in this installation's database)."""
    from aerovane.control.access import add_project_binding, project_policy
    from aerovane.db.engine import create_session

    with create_session() as session:
        add_project_binding(project, member=member, role=role, session=session)
        policy = project_policy(project, session=session)
    click.echo(f"Updated IAM policy for project [{project}].", err=True)
    click.echo(render(policy, fmt))


@projects.command("remove-iam-policy-binding")
@click.argument("project")
@click.option("--member", required=True)
@click.option("--role", required=True)
@format_option
def remove_iam_policy_binding(project: str, member: str, role: str, fmt: str | None) -> None:
    """Take ROLE on PROJECT away from MEMBER."""
    from aerovane.control.access import project_policy, remove_project_binding
    from aerovane.db.engine import create_session

    with create_session() as session:
        remove_project_binding(project, member=member, role=role, session=session)
        policy = project_policy(project, session=session)
    click.echo(f"Updated IAM policy for project [{project}].", err=True)
    click.echo(render(policy, fmt))


@projects.command("get-iam-policy")
@click.argument("project")
@format_option
def get_iam_policy(project: str, fmt: str | None) -> None:
    """Show who holds which role on PROJECT."""
    from aerovane.control.access import project_policy
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        click.echo(render(project_policy(project, session=session), fmt))


@click.command("version")
def version() -> None:
    """Print Aerovane's version (as `airflow version`; `environments run ENV version` uses it)."""
    from aerovane import __version__

    click.echo(__version__)


def register(cli: click.Group) -> None:
    cli.add_command(environments)
    cli.add_command(projects)
    if "version" not in cli.commands:
        cli.add_command(version)
