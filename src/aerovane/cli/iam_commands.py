"""`aerovane iam service-accounts ...`: service accounts, their keys and IAM bindings, in
gcloud's shape (`--iam-account`, `--format="value(oauth2ClientId)"`).

A new key's private half is written once to the named file (mode 0600) and never stored.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

_VALUE_FORMAT = re.compile(r"^value\((?P<fields>[^)]*)\)$")


def _render(data: Any, fmt: str | None) -> str:
    """gcloud's `--format`: json, yaml (the default) or value(field,...)."""
    fmt = (fmt or "yaml").strip()
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True)
    match = _VALUE_FORMAT.match(fmt)
    if match:
        fields = [f.strip() for f in match.group("fields").split(",") if f.strip()]
        rows = data if isinstance(data, list) else [data]
        return "\n".join("\t".join(_stringify(_lookup(row, f)) for f in fields) for row in rows)
    if fmt == "yaml":
        return (
            "\n---\n".join(_yaml(item) for item in data) if isinstance(data, list) else _yaml(data)
        )
    raise click.UsageError(f"unsupported --format {fmt!r}: use json, yaml or value(FIELD,...)")


def _lookup(row: Any, path: str) -> Any:
    for part in path.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row


def _stringify(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return ";".join(_stringify(v) for v in value)
    return str(value)


def _yaml(data: Any) -> str:
    return "\n".join(_yaml_lines(data, 0))


def _yaml_lines(data: Any, indent: int) -> Iterator[str]:
    pad = " " * indent
    if isinstance(data, dict):
        for key in sorted(data):
            value = data[key]
            if isinstance(value, dict | list) and value:
                yield f"{pad}{key}:"
                yield from _yaml_lines(value, indent + 2)
            else:
                yield f"{pad}{key}: {_yaml_scalar(value)}"
    elif isinstance(data, list):
        for item in data:
            lines = list(_yaml_lines(item, indent + 2))
            if lines:
                yield f"{pad}- {lines[0].lstrip()}"
                yield from lines[1:]
    else:
        yield f"{pad}{_yaml_scalar(data)}"


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    text = str(value)
    if isinstance(value, str) and (text.isdigit() or text[:1] in "{[&*!|>'\"%@`" or ": " in text):
        return "'" + text.replace("'", "''") + "'"
    return text


format_option = click.option(
    "--format", "fmt", default=None, help="json, yaml or value(FIELD,...), as in gcloud."
)


def _emit(data: Any, fmt: str | None) -> None:
    text = _render(data, fmt)
    if text:
        click.echo(text)


@click.group("iam")
def iam() -> None:
    """Identity and access: service accounts, keys, IAM policy bindings."""


@iam.group("service-accounts")
def service_accounts() -> None:
    """Manage service accounts."""


@service_accounts.command("create")
@click.argument("name")
@click.option("--display-name", default=None)
@click.option("--description", default=None)
@format_option
def create(name: str, display_name: str | None, description: str | None, fmt: str | None) -> None:
    """Create service account NAME (its email is NAME@PROJECT.iam.<domain>)."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        account = sa.create_service_account(
            name, display_name=display_name, description=description, session=session
        )
        described = sa.describe(account)
    click.echo(f"Created service account [{name}].", err=True)
    if fmt:
        _emit(described, fmt)


@service_accounts.command("list")
@format_option
def list_accounts(fmt: str | None) -> None:
    """All service accounts."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session(readonly=True) as session:
        rows = [sa.describe(a) for a in sa.list_service_accounts(session=session)]
    if fmt:
        _emit(rows, fmt)
        return
    _table(
        rows,
        [("DISPLAY NAME", "displayName"), ("EMAIL", "email"), ("DISABLED", "disabled")],
    )


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
    cells = [
        [_stringify(row.get(key, False if key == "disabled" else "")) for _, key in columns]
        for row in rows
    ]
    widths = [
        max([len(title), *(len(r[i]) for r in cells)]) for i, (title, _) in enumerate(columns)
    ]
    lines = [[title for title, _ in columns], *cells]
    for line in lines:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


@service_accounts.command("describe")
@click.argument("email")
@format_option
def describe(email: str, fmt: str | None) -> None:
    """Show a service account (EMAIL or numeric id)."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session(readonly=True) as session:
        described = sa.describe(sa.get_service_account(email, session=session))
    _emit(described, fmt)


@service_accounts.command("delete")
@click.argument("email")
@click.option("-q", "--quiet", is_flag=True, help="Accepted for gcloud compatibility.")
def delete(email: str, quiet: bool) -> None:
    """Delete a service account, its keys and its bindings (tokens stop working at once)."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        sa.delete_service_account(email, session=session)
    click.echo(f"deleted service account [{email}]", err=True)


def _set_disabled(email: str, disabled: bool) -> None:
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        sa.set_disabled(email, disabled, session=session)
    click.echo(f"{'Disabled' if disabled else 'Enabled'} service account [{email}].", err=True)


@service_accounts.command("disable")
@click.argument("email")
def disable(email: str) -> None:
    """Disable a service account: it can no longer get tokens, and its tokens are refused."""
    _set_disabled(email, True)


@service_accounts.command("enable")
@click.argument("email")
def enable(email: str) -> None:
    """Enable a disabled service account."""
    _set_disabled(email, False)


# -- IAM policy on an account -------------------------------------------------------------------


@service_accounts.command("add-iam-policy-binding")
@click.argument("email")
@click.option("--member", required=True, help="user:EMAIL or serviceAccount:EMAIL")
@click.option("--role", required=True, help="e.g. roles/iam.serviceAccountTokenCreator")
@format_option
def add_iam_policy_binding(email: str, member: str, role: str, fmt: str | None) -> None:
    """Let MEMBER hold ROLE on the account (token creators may impersonate it)."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        sa.add_iam_policy_binding(email, member=member, role=role, session=session)
        policy = sa.get_iam_policy(email, session=session)
    click.echo(f"Updated IAM policy for serviceAccount [{email}].", err=True)
    _emit(policy, fmt)


@service_accounts.command("remove-iam-policy-binding")
@click.argument("email")
@click.option("--member", required=True)
@click.option("--role", required=True)
@format_option
def remove_iam_policy_binding(email: str, member: str, role: str, fmt: str | None) -> None:
    """Remove a binding added with add-iam-policy-binding."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        sa.remove_iam_policy_binding(email, member=member, role=role, session=session)
        policy = sa.get_iam_policy(email, session=session)
    click.echo(f"Updated IAM policy for serviceAccount [{email}].", err=True)
    _emit(policy, fmt)


@service_accounts.command("get-iam-policy")
@click.argument("email")
@format_option
def get_iam_policy(email: str, fmt: str | None) -> None:
    """The bindings on a service account."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session(readonly=True) as session:
        policy = sa.get_iam_policy(email, session=session)
    _emit(policy, fmt)


# -- keys ---------------------------------------------------------------------------------------


@service_accounts.group("keys")
def keys() -> None:
    """Manage a service account's keys."""


def _write_key_file(output: str, text: str) -> None:
    if output == "-":
        click.echo(text)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fd = -1
            fh.write(text)
    finally:
        if fd != -1:
            os.close(fd)


@keys.command("create")
@click.argument("output")
@click.option("--iam-account", required=True, help="The service account's email.")
@click.option("--key-file-type", type=click.Choice(["json"]), default="json")
def keys_create(output: str, iam_account: str, key_file_type: str) -> None:
    """Create a key and write its key file to OUTPUT (`-` for stdout). The private key is not
    kept anywhere else: lose the file and the key must be replaced."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    written = False
    try:
        with create_session() as session:
            created = sa.create_key(iam_account, session=session)
            _write_key_file(output, json.dumps(created.key_file, indent=2) + "\n")
            written = output != "-"
            key_id = created.key.key_id
    except BaseException:
        if written:
            Path(output).unlink(missing_ok=True)
        raise
    where = "stdout" if output == "-" else output
    click.echo(
        f"created key [{key_id}] of type [{key_file_type}] as [{where}] for [{iam_account}]",
        err=True,
    )


@keys.command("list")
@click.option("--iam-account", required=True)
@format_option
def keys_list(iam_account: str, fmt: str | None) -> None:
    """The account's keys (public metadata only)."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session(readonly=True) as session:
        rows = [
            {
                "name": f"projects/-/serviceAccounts/{iam_account}/keys/{row.key_id}",
                "keyId": row.key_id,
                "validAfterTime": row.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "validBeforeTime": (
                    row.valid_before.strftime("%Y-%m-%dT%H:%M:%SZ")
                    if row.valid_before
                    else "9999-12-31T23:59:59Z"
                ),
                "keyType": "USER_MANAGED",
                "disabled": row.disabled,
            }
            for row in sa.list_keys(iam_account, session=session)
        ]
    if fmt:
        _emit(rows, fmt)
        return
    _table(
        rows,
        [
            ("KEY_ID", "keyId"),
            ("CREATED_AT", "validAfterTime"),
            ("EXPIRES_AT", "validBeforeTime"),
            ("DISABLED", "disabled"),
        ],
    )


@keys.command("delete")
@click.argument("key_id")
@click.option("--iam-account", required=True)
@click.option("-q", "--quiet", is_flag=True, help="Accepted for gcloud compatibility.")
def keys_delete(key_id: str, iam_account: str, quiet: bool) -> None:
    """Delete a key: it can no longer mint tokens, at once."""
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        sa.delete_key(key_id, iam_account, session=session)
    click.echo(f"deleted key [{key_id}] for service account [{iam_account}]", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(iam)
