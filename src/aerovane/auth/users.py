"""Users of the API and UI: creating, finding, and generating initial passwords.

Functions take `session` keyword-only and never commit; errors are the service errors of
`aerovane.services.errors` (BadRequest for invalid input, AlreadyExists for duplicates).
Roles and their permissions are `aerovane.auth.roles` / `aerovane.auth.rbac`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aerovane.auth.passwords import hash_password
from aerovane.db import models
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound

USERNAME_MAX = 512
EMAIL_MAX = 254
NAME_MAX = 256

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _validate_username(username: str) -> None:
    if not isinstance(username, str) or not username.strip():
        raise BadRequest("username must not be empty")
    if username != username.strip():
        raise BadRequest("username must not start or end with whitespace")
    if len(username) > USERNAME_MAX:
        raise BadRequest(f"username must be at most {USERNAME_MAX} characters")
    if _CONTROL_RE.search(username):
        raise BadRequest("username must not contain control characters")


def _validate_email(email: str) -> None:
    """Any non-empty string up to EMAIL_MAX characters, as Airflow's `users create` accepts.

    Cloud Composer's guide pre-registers a service account with
    `users create -u accounts.google.com:NUMERIC_ID -e UNIQUE_ID ...` and says any unique string
    can be the email, so the shape of an address is not checked; uniqueness is (callers).
    """
    if not isinstance(email, str) or not email.strip():
        raise BadRequest("email must not be empty")
    if len(email) > EMAIL_MAX:
        raise BadRequest(f"email must be at most {EMAIL_MAX} characters")
    if _CONTROL_RE.search(email):
        raise BadRequest("email must not contain control characters")


def _validate_name(field: str, value: str) -> None:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string")
    if len(value) > NAME_MAX:
        raise BadRequest(f"{field} must be at most {NAME_MAX} characters")


def find_user(username: str, *, session: Session) -> models.User | None:
    return session.scalar(select(models.User).where(models.User.username == username))


def find_user_by_email(email: str, *, session: Session) -> models.User | None:
    return session.scalar(
        select(models.User).where(func.lower(models.User.email) == email.lower()).limit(1)
    )


def create_user(
    *,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    role_names: Sequence[str],
    password: str | None,
    session: Session,
) -> models.User:
    """Add a user with the named roles; `password=None` makes an account that cannot use basic
    auth (for example one that only signs in through an identity-aware proxy)."""
    _validate_username(username)
    _validate_email(email)
    _validate_name("first_name", first_name)
    _validate_name("last_name", last_name)
    if password is not None and not password:
        raise BadRequest("password must not be empty")
    if isinstance(role_names, str):
        role_names = [role_names]
    wanted = list(dict.fromkeys(role_names))
    roles = (
        list(session.scalars(select(models.Role).where(models.Role.name.in_(wanted))))
        if wanted
        else []
    )
    missing = sorted(set(wanted) - {r.name for r in roles})
    if missing:
        raise BadRequest(f"Unknown role(s): {', '.join(missing)}")
    if find_user(username, session=session) is not None:
        raise AlreadyExists(f"Username `{username}` already exists. Use PATCH to update.")
    if find_user_by_email(email, session=session) is not None:
        raise AlreadyExists(f"The email `{email}` is already taken.")
    user = models.User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        password=hash_password(password) if password is not None else None,
        active=True,
    )
    user.roles = roles
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        # Lost a race with a concurrent create of the same username or email.
        raise AlreadyExists(f"User `{username}` or email `{email}` already exists.") from None
    return user


def set_password(user: models.User, password: str) -> None:
    if not password:
        raise BadRequest("password must not be empty")
    user.password = hash_password(password)


def random_password() -> str:
    """A password for a generated account (e.g. the standalone admin)."""
    return secrets.token_urlsafe(18)


# -- managing users (the REST API's users endpoints and `aerovane users ...`) -------------------

#: The role a user created through the API gets when no role is named (FAB's
#: `AUTH_USER_REGISTRATION_ROLE` default).
REGISTRATION_ROLE = "Public"

#: Fields `update_user` can change.
UPDATABLE_FIELDS = ("username", "email", "first_name", "last_name", "password", "roles")


def user_not_found(username: str) -> NotFound:
    return NotFound(f"The User with username `{username}` was not found")


def get_user(username: str, *, session: Session) -> models.User:
    user = find_user(username, session=session)
    if user is None:
        raise user_not_found(username)
    return user


def resolve_roles(names: Iterable[str], *, session: Session) -> list[models.Role]:
    """The named roles in the given order; BadRequest naming every one that does not exist."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    found = {
        role.name: role
        for role in session.scalars(select(models.Role).where(models.Role.name.in_(wanted)))
    }
    missing = [name for name in wanted if name not in found]
    if missing:
        raise BadRequest(f"Unknown roles: {', '.join(repr(name) for name in missing)}")
    return [found[name] for name in wanted]


def register_user(
    *,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    role_names: Sequence[str],
    password: str | None,
    session: Session,
) -> models.User:
    """A user created the way Airflow's `POST /users` creates one.

    Input is validated first (BadRequest), then a taken username or email is a conflict
    (AlreadyExists), then unknown roles are a BadRequest; no roles means `REGISTRATION_ROLE`.
    """
    _validate_username(username)
    _validate_email(email)
    _validate_name("first_name", first_name)
    _validate_name("last_name", last_name)
    if find_user(username, session=session) is not None:
        raise AlreadyExists(f"Username `{username}` already exists. Use PATCH to update.")
    if find_user_by_email(email, session=session) is not None:
        raise AlreadyExists(f"The email `{email}` is already taken.")
    roles = resolve_roles(role_names, session=session) or resolve_roles(
        [REGISTRATION_ROLE], session=session
    )
    return create_user(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role_names=[role.name for role in roles],
        password=password,
        session=session,
    )


def update_user(user: models.User, changes: Mapping[str, Any], *, session: Session) -> None:
    """Apply `changes` (keys from `UPDATABLE_FIELDS`; `roles` is a list of role names).

    A new password is hashed; since basic auth caches successful checks under the stored hash,
    the old password stops working at once.
    """
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise BadRequest(f"Unknown user field(s): {', '.join(unknown)}")
    username = changes.get("username")
    if username is not None:
        _validate_username(username)
        if username != user.username and find_user(username, session=session) is not None:
            raise AlreadyExists(f"The username `{username}` already exists")
    email = changes.get("email")
    if email is not None:
        _validate_email(email)
        other = find_user_by_email(email, session=session)
        if other is not None and other.id != user.id:
            raise AlreadyExists(f"The email `{email}` already exists")
    for field in ("first_name", "last_name"):
        if field in changes:
            _validate_name(field, changes[field])
    roles = resolve_roles(changes["roles"], session=session) if "roles" in changes else None
    if "password" in changes:
        set_password(user, changes["password"])
    if username is not None:
        user.username = username
    if email is not None:
        user.email = email
    for field in ("first_name", "last_name"):
        if field in changes:
            setattr(user, field, changes[field])
    if roles is not None:
        user.roles = roles
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Lost a race with a concurrent change taking the same username or email.
        raise AlreadyExists(
            f"User `{user.username}` or email `{user.email}` already exists."
        ) from None


def delete_user(username: str, *, session: Session) -> None:
    user = get_user(username, session=session)
    user.roles = []
    session.delete(user)
    session.flush()


def find_user_by_name_or_email(
    *, username: str | None = None, email: str | None = None, session: Session
) -> models.User:
    """The user named by exactly one of `username` and `email` (the CLI's `-u` / `-e`)."""
    if username is None and email is None:
        raise BadRequest("Missing args: must supply one of --username or --email")
    if username is not None and email is not None:
        raise BadRequest("Conflicting args: must supply either --username or --email, but not both")
    user = (
        find_user(username, session=session)
        if username is not None
        else find_user_by_email(email or "", session=session)
    )
    if user is None:
        raise NotFound(f'User "{username if username is not None else email}" does not exist')
    return user


def add_role_to_user(user: models.User, role_name: str, *, session: Session) -> None:
    (role,) = _known_roles([role_name], session=session)
    if any(r.name == role.name for r in user.roles):
        raise AlreadyExists(f'User "{user.username}" is already a member of role "{role_name}"')
    user.roles = [*user.roles, role]
    session.flush()


def remove_role_from_user(user: models.User, role_name: str, *, session: Session) -> None:
    (role,) = _known_roles([role_name], session=session)
    if not any(r.name == role.name for r in user.roles):
        raise BadRequest(f'User "{user.username}" is not a member of role "{role_name}"')
    user.roles = [r for r in user.roles if r.name != role.name]
    session.flush()


def _known_roles(names: Sequence[str], *, session: Session) -> list[models.Role]:
    """Like `resolve_roles`, with the CLI's message listing the valid roles."""
    try:
        return resolve_roles(names, session=session)
    except BadRequest:
        valid = sorted(session.scalars(select(models.Role.name)))
        missing = [n for n in names if n not in valid]
        raise BadRequest(
            f"{', '.join(repr(n) for n in missing)} is not a valid role. "
            f"Valid roles are: {', '.join(valid)}"
        ) from None


# -- export / import (the JSON format of `airflow users export`) ---------------------------------

EXPORT_FIELDS = ("id", "username", "email", "firstname", "lastname", "roles")


def export_users(*, session: Session) -> list[dict[str, Any]]:
    """Every user as `{id, username, email, firstname, lastname, roles: [names]}`, by id."""
    return [
        {
            "email": user.email,
            "firstname": user.first_name,
            "id": user.id,
            "lastname": user.last_name,
            "roles": [role.name for role in user.roles],
            "username": user.username,
        }
        for user in session.scalars(select(models.User).order_by(models.User.id))
    ]


def _check_import_item(index: int, item: Any) -> list[str]:
    if not isinstance(item, dict):
        return [f"[Item {index}]", "\t_schema: Invalid input type."]
    problems: list[str] = []
    for key in EXPORT_FIELDS:
        if key not in item:
            problems.append(f"\t{key}: Missing data for required field.")
    for key in ("username", "email", "firstname", "lastname"):
        if key in item and not isinstance(item[key], str):
            problems.append(f"\t{key}: Not a valid string.")
    if "id" in item and (not isinstance(item["id"], int) or isinstance(item["id"], bool)):
        problems.append("\tid: Not a valid integer.")
    roles = item.get("roles")
    if "roles" in item and (
        not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles)
    ):
        problems.append("\troles: Must be a non-empty list of role names.")
    email = item.get("email")
    if isinstance(email, str):
        try:
            _validate_email(email)
        except BadRequest:
            problems.append("\temail: Must be a non-empty string.")
    return [f"[Item {index}]", *problems] if problems else []


def import_users(items: Any, *, session: Session) -> tuple[list[str], list[str]]:
    """Create or update users from an export; return (created, updated) emails.

    As in Airflow, users are matched by email, a matched user's username must not change, and
    new users get no password (they cannot use basic auth until one is set). All or nothing:
    any invalid item fails the whole import before anything is written.
    """
    if not isinstance(items, list):
        raise BadRequest("Input file didn't pass validation: expected a JSON list of users")
    problems = [line for i, item in enumerate(items) for line in _check_import_item(i, item)]
    if problems:
        raise BadRequest("Input file didn't pass validation. See below:\n" + "\n".join(problems))
    created: list[str] = []
    updated: list[str] = []
    for item in items:
        roles = _known_roles(item["roles"], session=session)
        existing = find_user_by_email(item["email"], session=session)
        if existing is not None:
            if existing.username != item["username"]:
                raise BadRequest(
                    "Changing the username is not allowed - please delete and recreate the user "
                    f"with email {item['email']!r}"
                )
            _validate_name("first_name", item["firstname"])
            _validate_name("last_name", item["lastname"])
            existing.roles = roles
            existing.first_name = item["firstname"]
            existing.last_name = item["lastname"]
            session.flush()
            updated.append(item["email"])
        else:
            create_user(
                username=item["username"],
                email=item["email"],
                first_name=item["firstname"],
                last_name=item["lastname"],
                role_names=[role.name for role in roles],
                password=None,
                session=session,
            )
            created.append(item["email"])
    return created, updated


def list_users(
    *, offset: int, limit: int, search: str = "", session: Session
) -> tuple[list[models.User], int]:
    """A page of users by username (roles loaded with them) and how many match `search` (a
    case-insensitive substring of the username, email or names)."""
    query = select(models.User)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            func.lower(models.User.username).like(pattern)
            | func.lower(models.User.email).like(pattern)
            | func.lower(models.User.first_name).like(pattern)
            | func.lower(models.User.last_name).like(pattern)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(models.User.username).offset(offset).limit(limit))
    return list(rows), int(total)


def end_sessions(user_id: int, *, epoch: int, session: Session) -> None:
    """Sign the user out of every session cookie issued in `epoch` (on any worker or host),
    unless the epoch moved on already: an old cookie cannot keep signing newer ones out."""
    session.execute(
        update(models.User)
        .where(models.User.id == user_id, models.User.session_epoch == epoch)
        .values(session_epoch=models.User.session_epoch + 1, changed_on=models.User.changed_on)
    )
