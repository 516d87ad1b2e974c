"""`aerovane users create|list|delete`."""

from __future__ import annotations

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
def create(username: str, email: str, firstname: str, lastname: str, role: str,
           password: str | None, use_random_password: bool) -> None:
    """Create a user with one role."""
    from aerovane.auth.users import create_user, random_password
    from aerovane.db.engine import create_session

    if bool(password) == use_random_password:
        raise click.UsageError("give exactly one of --password and --use-random-password")
    with create_session() as session:
        create_user(username=username, email=email, first_name=firstname, last_name=lastname,
                    role_names=[role], password=password or random_password(), session=session)
    click.echo(f"User {username} created with role {role}")


@users.command("list")
@output_option
def list_users(output: str) -> None:
    """All users and their roles."""
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = [
            {"id": u.id, "username": u.username, "email": u.email, "first_name": u.first_name,
             "last_name": u.last_name, "roles": ",".join(r.name for r in u.roles),
             "active": u.active}
            for u in session.scalars(select(models.User).order_by(models.User.id))
        ]
    emit(rows, ["id", "username", "email", "first_name", "last_name", "roles", "active"], output)


@users.command("delete")
@click.option("-u", "--username", required=True)
def delete(username: str) -> None:
    """Delete a user."""
    from aerovane.auth.users import find_user
    from aerovane.db.engine import create_session
    from aerovane.services.errors import NotFound

    with create_session() as session:
        user = find_user(username, session=session)
        if user is None:
            raise NotFound(f"User {username!r} does not exist")
        session.delete(user)
    click.echo(f"User {username} deleted")


def register(cli: click.Group) -> None:
    cli.add_command(users)
