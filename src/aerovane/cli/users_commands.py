"""`aerovane users create|list|delete|add-role|remove-role|export|import`.

Export and import use `airflow users export`'s JSON format: a list of
`{"id", "username", "email", "firstname", "lastname", "roles": [names]}`.
"""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from aerovane.cli.output import emit, output_option


@click.group("users")
def users() -> None:
    """Manage users of the API."""


@users.command("create")
@click.option("-u", "--username", required=True)
@click.option("-e", "--email", required=True)
@click.option("-f", "--firstname", required=True)
@click.option("-l", "--lastname", required=True)
@click.option("-r", "--role", required=True, help="Admin, Op, User, Viewer, Public or custom.")
@click.option("-p", "--password", default=None)
@click.option("--use-random-password", is_flag=True)
def create(
    username: str,
    email: str,
    firstname: str,
    lastname: str,
    role: str,
    password: str | None,
    use_random_password: bool,
) -> None:
    """Create a user with one role."""
    from aerovane.auth.users import create_user, random_password
    from aerovane.db.engine import create_session

    if bool(password) == use_random_password:
        raise click.UsageError("give exactly one of --password and --use-random-password")
    with create_session() as session:
        create_user(
            username=username,
            email=email,
            first_name=firstname,
            last_name=lastname,
            role_names=[role],
            password=password or random_password(),
            session=session,
        )
    click.echo(f"User {username} created with role {role}")


@users.command("list")
@output_option
def list_users(output: str) -> None:
    """All users and their roles."""
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = [
            {
                "id": u.id,
                "username": u.username,
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "roles": ",".join(r.name for r in u.roles),
                "active": u.active,
            }
            for u in session.scalars(select(models.User).order_by(models.User.id))
        ]
    emit(rows, ["id", "username", "email", "first_name", "last_name", "roles", "active"], output)


_username_option = click.option("-u", "--username", default=None, help="The user's username.")
_email_option = click.option("-e", "--email", default=None, help="The user's email.")


@users.command("delete")
@_username_option
@_email_option
def delete(username: str | None, email: str | None) -> None:
    """Delete a user (named by username or email)."""
    from aerovane.auth.users import delete_user, find_user_by_name_or_email
    from aerovane.db.engine import create_session

    with create_session() as session:
        user = find_user_by_name_or_email(username=username, email=email, session=session)
        name = user.username
        delete_user(name, session=session)
    click.echo(f"User {name} deleted")


@users.command("reset-password")
@_username_option
@_email_option
@click.option(
    "-p", "--password", default=None, help="Password of the user (prompted for if not given)."
)
@click.option(
    "--use-random-password",
    is_flag=True,
    help="Do not prompt for password. Use random string instead.",
)
def reset_password(
    username: str | None, email: str | None, password: str | None, use_random_password: bool
) -> None:
    """Reset a user's password (named by username or email)."""
    from aerovane.auth.users import find_user_by_name_or_email, random_password, update_user
    from aerovane.db.engine import create_session

    if password and use_random_password:
        raise click.UsageError("give at most one of --password and --use-random-password")
    if use_random_password:
        password = random_password()
    with create_session() as session:
        user = find_user_by_name_or_email(username=username, email=email, session=session)
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        update_user(user, {"password": password}, session=session)
        name = user.username
    click.echo(f"{name} password reset successfully")


@users.command("add-role")
@_username_option
@_email_option
@click.option("-r", "--role", required=True, help="The role to add.")
def add_role(username: str | None, email: str | None, role: str) -> None:
    """Give a user one more role."""
    from aerovane.auth.users import add_role_to_user, find_user_by_name_or_email
    from aerovane.db.engine import create_session

    with create_session() as session:
        user = find_user_by_name_or_email(username=username, email=email, session=session)
        add_role_to_user(user, role, session=session)
        name = user.username
    click.echo(f'User "{name}" added to role "{role}"')


@users.command("remove-role")
@_username_option
@_email_option
@click.option("-r", "--role", required=True, help="The role to remove.")
def remove_role(username: str | None, email: str | None, role: str) -> None:
    """Take a role away from a user."""
    from aerovane.auth.users import find_user_by_name_or_email, remove_role_from_user
    from aerovane.db.engine import create_session

    with create_session() as session:
        user = find_user_by_name_or_email(username=username, email=email, session=session)
        remove_role_from_user(user, role, session=session)
        name = user.username
    click.echo(f'User "{name}" removed from role "{role}"')


@users.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
def export(file: str) -> None:
    """Write all users to FILE as JSON."""
    from aerovane.auth.users import export_users
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = export_users(session=session)
    try:
        with open(file, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(rows, sort_keys=True, indent=4))
    except OSError as exc:
        raise click.ClickException(f"Cannot write {file}: {exc.strerror}") from None
    click.echo(f"{len(rows)} users successfully exported to {file}")


@users.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
def import_(file: str) -> None:
    """Create or update users from FILE (the format `users export` writes); new users get no
    password."""
    from aerovane.auth.users import import_users
    from aerovane.db.engine import create_session

    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise click.ClickException(f"File '{file}' does not exist") from None
    except OSError as exc:
        raise click.ClickException(f"Cannot read {file}: {exc.strerror}") from None
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise click.ClickException(f"File '{file}' is not valid JSON. Error: {exc}") from None
    with create_session() as session:
        created, updated = import_users(items, session=session)
    if created:
        click.echo("Created the following users:\n\t" + "\n\t".join(created))
    if updated:
        click.echo("Updated the following users:\n\t" + "\n\t".join(updated))


def register(cli: click.Group) -> None:
    cli.add_command(users)
