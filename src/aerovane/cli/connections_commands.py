"""`aerovane connections add|delete|get|list|import|export|test`, as Airflow 2's.

As Airflow's CLI, `get`, `list` and `export` print passwords (the operator at this prompt can
read the metadata database anyway); nothing here logs them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from aerovane.cli.output import emit, output_option

COLUMNS = [
    "id",
    "conn_id",
    "conn_type",
    "description",
    "host",
    "schema",
    "login",
    "password",
    "port",
    "is_encrypted",
    "is_extra_encrypted",
    "extra_dejson",
    "get_uri",
]
FILE_FORMATS = ("json", "yaml", "env")
_FIELD_OPTIONS = ("host", "login", "password", "schema", "port")


def _fields(row: Any) -> dict[str, Any]:
    """A stored connection's fields, password and extra decrypted."""
    from aerovane.services.connections import revealed

    password, extra = revealed(row)
    return {
        "conn_type": row.conn_type,
        "description": row.description,
        "host": row.host,
        "schema": row.schema,
        "login": row.login,
        "password": password,
        "port": row.port,
        "extra": extra,
    }


def _uri(conn_id: str, fields: dict[str, Any]) -> str:
    from aerovane.authoring.variables import Connection

    values = {k: v for k, v in fields.items() if k != "description"}
    return Connection(conn_id=conn_id, **values).get_uri()


def _row(row: Any) -> dict[str, Any]:
    fields = _fields(row)
    try:
        extra = json.loads(fields["extra"]) if fields["extra"] else {}
    except ValueError:
        extra = {}
    return {
        "id": row.id,
        "conn_id": row.conn_id,
        **{k: v for k, v in fields.items() if k != "extra"},
        "is_encrypted": row.is_encrypted,
        "is_extra_encrypted": row.is_extra_encrypted,
        "extra_dejson": extra,
        "get_uri": _uri(row.conn_id, fields),
    }


@click.group("connections")
def connections() -> None:
    """Manage connections."""


@connections.command("get")
@click.argument("conn_id")
@output_option
def get_cmd(conn_id: str, output: str) -> None:
    """Get a connection."""
    from aerovane.db.engine import create_session
    from aerovane.services.connections import get_connection

    with create_session(readonly=True) as session:
        rows = [_row(get_connection(conn_id, session=session))]
    emit(rows, COLUMNS, output)


@connections.command("list")
@click.option(
    "--conn-id",
    default=None,
    help="If passed, only items with the specified connection ID will be displayed.",
)
@output_option
def list_cmd(conn_id: str | None, output: str) -> None:
    """List connections."""
    from aerovane.db.engine import create_session
    from aerovane.services.connections import list_connections

    with create_session(readonly=True) as session:
        rows = [_row(c) for c in list_connections(session=session) if conn_id in (None, c.conn_id)]
    emit(rows, COLUMNS, output)


def _values_from_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"--conn-json is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not data.get("conn_type"):
        raise click.ClickException("conn-json is invalid; must supply conn-type")
    unknown = sorted(set(data) - {"conn_type", "description", *_FIELD_OPTIONS, "extra"})
    if unknown:
        raise click.ClickException(f"conn-json has unknown fields: {unknown}")
    if isinstance(data.get("extra"), dict):
        data["extra"] = json.dumps(data["extra"])
    return data


@connections.command("add")
@click.argument("conn_id")
@click.option(
    "--conn-uri",
    default=None,
    help="Connection URI, required to add a connection without conn_type.",
)
@click.option(
    "--conn-json",
    default=None,
    help="Connection JSON, required to add a connection using JSON representation.",
)
@click.option(
    "--conn-type",
    default=None,
    help="Connection type, required to add a connection without conn_uri.",
)
@click.option(
    "--conn-description",
    default=None,
    help="Connection description, optional when adding a connection.",
)
@click.option(
    "--conn-host", default=None, help="Connection host, optional when adding a connection."
)
@click.option(
    "--conn-login", default=None, help="Connection login, optional when adding a connection."
)
@click.option(
    "--conn-password", default=None, help="Connection password, optional when adding a connection."
)
@click.option(
    "--conn-schema", default=None, help="Connection schema, optional when adding a connection."
)
@click.option(
    "--conn-port",
    type=int,
    default=None,
    help="Connection port, optional when adding a connection.",
)
@click.option(
    "--conn-extra",
    default=None,
    help="Connection `Extra` field, optional when adding a connection.",
)
def add_cmd(
    conn_id: str,
    conn_uri: str | None,
    conn_json: str | None,
    conn_type: str | None,
    conn_description: str | None,
    conn_host: str | None,
    conn_login: str | None,
    conn_password: str | None,
    conn_schema: str | None,
    conn_port: int | None,
    conn_extra: str | None,
) -> None:
    """Add a connection."""
    from aerovane.db.engine import create_session
    from aerovane.services.connections import create_connection, parse_uri, validate_conn_id

    validate_conn_id(conn_id)
    if not conn_type and not (conn_uri or conn_json):
        raise click.ClickException(
            "Must supply either conn-uri or conn-json if not supplying conn-type"
        )
    if conn_uri and conn_json:
        raise click.ClickException("Cannot supply both conn-uri and conn-json")
    given = {
        "host": conn_host,
        "login": conn_login,
        "password": conn_password,
        "schema": conn_schema,
        "port": conn_port,
    }
    if conn_uri or conn_json:
        clashing = [f"--conn-{name}" for name, value in given.items() if value is not None]
        if conn_type:
            clashing.insert(0, "--conn-type")
        if conn_json and conn_extra is not None:
            clashing.append("--conn-extra")
        if clashing:
            flag = "uri" if conn_uri else "json"
            raise click.ClickException(
                f"The following args are not compatible with the --conn-{flag} flag: {clashing!r}"
            )
    if conn_uri:
        values = parse_uri(conn_uri)
        values["description"] = conn_description
    elif conn_json:
        values = _values_from_json(conn_json)
    else:
        values = {"conn_type": conn_type, "description": conn_description, **given}
    if conn_extra is not None:
        values["extra"] = conn_extra
    with create_session() as session:
        create_connection(conn_id, values, session=session)
    # Airflow's shape, the password starred (Airflow would echo a --conn-uri's password).
    secret = "******" if values.get("password") else ""
    login, host, port = (values.get(k) or "" for k in ("login", "host", "port"))
    authority = f"{login}:{secret}@{host}:{port}"
    click.echo(
        f"Successfully added `conn_id`={conn_id} : "
        f"{values['conn_type']}://{authority}/{values.get('schema') or ''}"
    )


@connections.command("delete")
@click.argument("conn_id")
def delete_cmd(conn_id: str) -> None:
    """Delete a connection."""
    from aerovane.db.engine import create_session
    from aerovane.services.connections import delete_connection

    with create_session() as session:
        delete_connection(conn_id, session=session)
    click.echo(f"Successfully deleted connection with `conn_id`={conn_id}")


def _file_format(path: str, file_format: str | None) -> str:
    if file_format:
        return file_format.lower()
    if path == "-":
        return "json"
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "yml":
        return "yaml"
    if suffix not in FILE_FORMATS:
        raise click.ClickException(
            "Unsupported file format. The file must have the extension .yaml, .json, .env."
        )
    return suffix


@connections.command("export")
@click.argument("file")
@click.option(
    "--file-format",
    "--format",
    "file_format",
    type=click.Choice(FILE_FORMATS),
    default=None,
    help="File format for the export (default: from the file's extension).",
)
@click.option(
    "--serialization-format",
    type=click.Choice(["json", "uri"]),
    default=None,
    help="When exporting as .env, how to serialize each connection (default: uri).",
)
def export_cmd(file: str, file_format: str | None, serialization_format: str | None) -> None:
    """Export all connections to FILE (`-` for stdout): json, yaml or env, passwords included."""
    from aerovane.db.engine import create_session
    from aerovane.services.connections import list_connections

    fmt = _file_format(file, file_format)
    if serialization_format and fmt != "env":
        raise click.ClickException(
            "Option `--serialization-format` may only be used with file type `env`."
        )
    with create_session(readonly=True) as session:
        data = {c.conn_id: _fields(c) for c in list_connections(session=session)}
    if fmt == "json":
        text = json.dumps(data, indent=2)
    elif fmt == "yaml":
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    else:
        lines = []
        for conn_id, fields in data.items():
            value = json.dumps(fields) if serialization_format == "json" else _uri(conn_id, fields)
            lines.append(f"{conn_id}={value}")
        text = "\n".join(lines)
    if file == "-":
        click.echo(text)
        return
    try:
        target = Path(file)
        target.write_text(text + "\n")
        target.chmod(0o600)  # it holds passwords
    except OSError as exc:
        raise click.ClickException(f"Cannot write {file}: {exc}") from None
    click.echo(f"Connections successfully exported to {file}.", err=True)


def _load(path: str) -> dict[str, dict[str, Any]]:
    from aerovane.services.connections import parse_uri

    fmt = _file_format(path, None)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise click.ClickException(
            f"Failed to load connections file {path}: {exc.strerror}"
        ) from None
    try:
        if fmt == "env":
            data: Any = {}
            for number, line in enumerate(text.splitlines(), 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                key, sep, value = line.partition("=")
                if not sep:
                    raise ValueError(f"line {number} is not KEY=VALUE")
                value = value.strip()
                data[key.strip()] = json.loads(value) if value.startswith("{") else parse_uri(value)
        elif fmt == "yaml":
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is one line naming the file
        raise click.ClickException(f"Failed to load connections file {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise click.ClickException(f"{path} must map connection ids to connections")
    return data


@connections.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Overwrite existing entries if a conflict occurs.")
def import_cmd(file: str, overwrite: bool) -> None:
    """Import connections from a json, yaml or env file."""
    from aerovane.db.engine import create_session
    from aerovane.services.connections import (
        FIELDS,
        create_connection,
        list_connections,
        update_connection,
    )

    data = _load(file)
    with create_session() as session:
        existing = {c.conn_id for c in list_connections(session=session)}
        with click.progressbar(
            data.items(), label="Importing connections", file=sys.stderr
        ) as items:
            for conn_id, spec in items:
                values = {k: v for k, v in spec.items() if k in FIELDS}
                if isinstance(values.get("extra"), dict):
                    values["extra"] = json.dumps(values["extra"])
                if conn_id in existing and not overwrite:
                    click.echo(
                        f"\nCould not import connection {conn_id}: connection already exists."
                    )
                    continue
                if conn_id in existing:
                    update_connection(conn_id, values, session=session)
                else:
                    create_connection(conn_id, values, session=session)
                click.echo(f"\nImported connection {conn_id}")


@connections.command("test")
@click.argument("conn_id")
def test_cmd(conn_id: str) -> None:
    """Test a connection (needs `[core] test_connection = Enabled`)."""
    from aerovane.config import get_settings
    from aerovane.db.engine import create_session
    from aerovane.services.connections import ConnectionSpec, check_connection, get_connection

    if get_settings().getstr("core", "test_connection").lower() != "enabled":
        raise click.ClickException(
            "Testing connections is disabled in Aerovane configuration; "
            "set [core] test_connection = Enabled to enable it."
        )
    click.echo(f"Retrieving connection: {conn_id!r}")
    with create_session(readonly=True) as session:
        row = get_connection(conn_id, session=session)
        fields = _fields(row)
    fields.pop("description")
    click.echo("Testing...")
    ok, message = check_connection(ConnectionSpec(**fields))
    if not ok:
        raise click.ClickException(f"Connection failed! {message}")
    click.echo("Connection success!")


def register(cli: click.Group) -> None:
    cli.add_command(connections)
