"""`aerovane roles list|create|delete|add-perms|del-perms|export|import`, as `airflow roles`."""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import AbstractContextManager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from aerovane.cli.output import emit, output_option


@click.group("roles")
def roles() -> None:
    """Manage roles and their permissions."""


@roles.command("list")
@click.option("-p", "--permission", is_flag=True, help="Show each role's permissions.")
@output_option
def list_roles(permission: bool, output: str) -> None:
    """All roles (with -p: one row per role and resource, listing the actions)."""
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        all_roles = list(session.scalars(select(models.Role).order_by(models.Role.name)))
        if not permission:
            emit([{"name": role.name} for role in all_roles], ["name"], output)
            return
        actions: dict[tuple[str, str], list[str]] = defaultdict(list)
        for role in all_roles:
            for perm in role.permissions:
                actions[(role.name, perm.resource.name)].append(perm.action.name)
    rows = [
        {"name": name, "resource": resource, "action": ",".join(sorted(actions[(name, resource)]))}
        for name, resource in sorted(actions)
    ]
    emit(rows, ["name", "resource", "action"], output)


@roles.command("create")
@click.argument("role", nargs=-1, required=True)
def create(role: tuple[str, ...]) -> None:
    """Create roles without permissions (existing ones are left as they are)."""
    from aerovane.auth.roles import create_role, find_role
    from aerovane.db.engine import create_session

    with create_session() as session:
        for name in dict.fromkeys(role):
            if find_role(name, session=session) is None:
                create_role(name, session=session)
    click.echo(f"Added {len(role)} role(s)")


@roles.command("delete")
@click.argument("role", nargs=-1, required=True)
def delete(role: tuple[str, ...]) -> None:
    """Delete roles (all or none: every one must exist)."""
    from aerovane.auth.roles import delete_role, get_role
    from aerovane.db.engine import create_session

    with create_session() as session:
        names = list(dict.fromkeys(role))
        for name in names:
            get_role(name, session=session)
        for name in names:
            delete_role(name, session=session)
    click.echo(f"Deleted {len(role)} role(s)")


def _change_permissions(
    role: tuple[str, ...], resource: tuple[str, ...], action: tuple[str, ...], *, add: bool
) -> list[str]:
    from aerovane.auth.roles import (
        check_permissions_exist,
        get_role,
        grant_permissions,
        revoke_permissions,
    )
    from aerovane.db.engine import create_session

    lines: list[str] = []
    with create_session() as session:
        found = [get_role(name, session=session) for name in dict.fromkeys(role)]
        perms = [(a, r) for r in dict.fromkeys(resource) for a in dict.fromkeys(action)]
        check_permissions_exist(perms, session=session)
        for target in found:
            if add:
                for a, r in grant_permissions(target, perms, session=session):
                    lines.append(f"Added {a} on {r} to role {target.name}")
            else:
                for a, r in revoke_permissions(target, perms, session=session):
                    lines.append(f"Deleted {a} on {r} from role {target.name}")
    return lines


_resource_option = click.option(
    "-r", "--resource", multiple=True, required=True, help="A resource (repeatable)."
)
_action_option = click.option(
    "-a", "--action", multiple=True, required=True, help="An action, e.g. can_read (repeatable)."
)


@roles.command("add-perms")
@click.argument("role", nargs=-1, required=True)
@_resource_option
@_action_option
def add_perms(role: tuple[str, ...], resource: tuple[str, ...], action: tuple[str, ...]) -> None:
    """Grant every ACTION on every RESOURCE to each ROLE."""
    for line in _change_permissions(role, resource, action, add=True):
        click.echo(line)


@roles.command("del-perms")
@click.argument("role", nargs=-1, required=True)
@_resource_option
@_action_option
def del_perms(role: tuple[str, ...], resource: tuple[str, ...], action: tuple[str, ...]) -> None:
    """Revoke every ACTION on every RESOURCE from each ROLE."""
    for line in _change_permissions(role, resource, action, add=False):
        click.echo(line)


@roles.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@click.option(
    "-p",
    "--pretty",
    is_flag=True,
    help="Format output JSON file by sorting role names and indenting by 4 spaces.",
)
def export(file: str, pretty: bool) -> None:
    """Export roles and their permissions to a JSON file.

    As Airflow: the default roles are left out; each custom role is one entry per resource,
    {"role": ..., "resource": ..., "action": "can_read,can_edit"}."""
    from aerovane.auth.permissions import DEFAULT_ROLES
    from aerovane.auth.roles import all_roles, role_permission_pairs

    with _session(readonly=True) as session:
        custom = [role for role in all_roles(session=session) if role.name not in DEFAULT_ROLES]
        actions: dict[tuple[str, str], list[str]] = defaultdict(list)
        for role in custom:
            pairs = role_permission_pairs(role)
            if not pairs:
                actions[(role.name, "")].append("")
            for action, resource in pairs:
                actions[(role.name, resource)].append(action)
    data = [
        {"role": name, "resource": resource, "action": ",".join(sorted(a for a in acts if a))}
        for (name, resource), acts in actions.items()
    ]
    if pretty:
        data.sort(key=lambda row: (row["role"], row["resource"]))
    try:
        Path(file).write_text(json.dumps(data, indent=4 if pretty else None))
    except OSError as exc:
        raise click.ClickException(f"Cannot write {file}: {exc}") from None
    click.echo(f"{len(custom)} roles successfully exported to {file}")


def _import_rows(file: str) -> list[dict[str, str]]:
    try:
        data = json.loads(Path(file).read_text())
    except FileNotFoundError:
        raise click.ClickException(f"File '{file}' does not exist") from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(
            f"File '{file}' is not a valid JSON file. Error: {exc}"
        ) from None
    if not isinstance(data, list):
        raise click.ClickException(f"File '{file}' must hold a JSON list of roles")
    rows = []
    for item in data:
        if isinstance(item, str):  # the older export: role names only
            item = {"role": item, "resource": "", "action": ""}
        if not (isinstance(item, dict) and isinstance(item.get("role"), str) and item["role"]):
            raise click.ClickException(f"File '{file}' has an entry without a role name: {item!r}")
        rows.append(
            {
                "role": item["role"],
                "resource": str(item.get("resource") or ""),
                "action": str(item.get("action") or ""),
            }
        )
    return rows


@roles.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
def import_(file: str) -> None:
    """Import roles (and their permissions) from a JSON file made by `roles export`."""
    from aerovane.auth.roles import (
        check_permissions_exist,
        create_role,
        find_role,
        grant_permissions,
    )

    rows = _import_rows(file)
    with _session() as session:
        perms: dict[str, list[tuple[str, str]]] = {row["role"]: [] for row in rows}
        for row in rows:
            if row["resource"]:
                perms[row["role"]] += [
                    (a.strip(), row["resource"]) for a in row["action"].split(",") if a.strip()
                ]
        check_permissions_exist([p for ps in perms.values() for p in ps], session=session)
        with click.progressbar(perms.items(), label="Importing roles") as items:
            for name, granted in items:
                role = find_role(name, session=session) or create_role(name, session=session)
                grant_permissions(role, granted, session=session)
    click.echo(f"roles {sorted(perms)} successfully imported")


def _session(readonly: bool = False) -> AbstractContextManager[Session]:
    from aerovane.db.engine import create_session

    return create_session(readonly=readonly)


def register(cli: click.Group) -> None:
    cli.add_command(roles)
