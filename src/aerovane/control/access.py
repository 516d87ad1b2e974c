"""Who may call the control plane: Google's access tokens and project-level IAM roles.

Callers send `Authorization: Bearer <access token>` (cloud-platform scope) from Aerovane's token
service. What they may do comes from `IamBinding` rows on `projects/<project>`:

| role | get, list | update | run commands |
|---|---|---|---|
| roles/composer.admin, roles/owner, roles/editor | yes | yes | yes |
| roles/composer.user | yes | | yes |
| roles/composer.environmentAndStorageObjectViewer, roles/viewer | yes | | |

A person whose Aerovane user holds the Admin role is a composer admin. A refused caller learns
nothing about whether the resource exists ("or it may not exist"), as with Google. Bindings are
granted with `add_project_binding` (`aerovane projects add-iam-policy-binding`); functions that
take a session never commit it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.control.errors import GoogleError
from aerovane.db import models
from aerovane.services.errors import BadRequest, NotFound

GET = "composer.environments.get"
LIST = "composer.environments.list"
UPDATE = "composer.environments.update"
EXECUTE = "composer.environments.executeAirflowCommand"
GET_OPERATION = "composer.operations.get"

_VIEW = frozenset({GET, LIST, GET_OPERATION})
_USE = _VIEW | {EXECUTE}
_ADMIN = _USE | {UPDATE}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/composer.admin": _ADMIN,
    "roles/owner": _ADMIN,
    "roles/editor": _ADMIN,
    "roles/composer.user": _USE,
    "roles/composer.environmentAndStorageObjectViewer": _VIEW,
    "roles/viewer": _VIEW,
}
ADMIN_USER_ROLE = "Admin"
_MEMBER = re.compile(r"^(user|serviceAccount):[^\s:@]+@[^\s:@]+$")

_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MISSING_CREDENTIALS = f"Request is missing required authentication credential. {_HELP}"
INVALID_CREDENTIALS = f"Request had invalid authentication credentials. {_HELP}"


@dataclass(frozen=True)
class Caller:
    member: str  # "serviceAccount:x@..." or "user:y@..."
    permissions: frozenset[str]


def _unauthenticated(message: str) -> GoogleError:
    return GoogleError(
        401, message, headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
    )


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthenticated(MISSING_CREDENTIALS)
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated(INVALID_CREDENTIALS)
    return token.strip()


def project_id_of(project: str) -> str:
    """The project id for a path's project, which may also be given by number."""
    from aerovane.identity import project_number
    from aerovane.identity.project import project_id

    return project_id() if project == project_number() else project


def project_resource(project: str) -> str:
    """The IamBinding `resource` of a project."""
    return f"projects/{project}"


def _normalize(member: str) -> str:
    kind, _, email = member.partition(":")
    return f"{kind}:{email.lower()}"


def caller_permissions(member: str, project: str, *, session: Session) -> frozenset[str]:
    roles = set(
        session.scalars(
            select(models.IamBinding.role).where(
                models.IamBinding.resource == project_resource(project),
                models.IamBinding.member == _normalize(member),
            )
        )
    )
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)


def _is_admin_user(unique_id: str, *, session: Session) -> bool:
    from aerovane.identity.principals import USER_ID_BASE, is_user_id

    if not is_user_id(unique_id):
        return False
    user = session.get(models.User, int(unique_id) - USER_ID_BASE)
    return user is not None and any(role.name == ADMIN_USER_ROLE for role in user.roles)


def authenticate(request: Request, project: str, *, session: Session) -> Caller:
    """The caller and what they may do in `project`; 401 without a valid access token."""
    from aerovane.identity import TokenError, verify_access_token

    token = bearer_token(request)
    try:
        principal = verify_access_token(token, session=session)
    except TokenError:
        raise _unauthenticated(INVALID_CREDENTIALS) from None
    if principal.kind == "user" and _is_admin_user(principal.unique_id, session=session):
        return Caller(principal.member, _ADMIN)
    return Caller(principal.member, caller_permissions(principal.member, project, session=session))


def add_project_binding(
    project: str, *, member: str, role: str, session: Session
) -> models.IamBinding:
    """Grant `role` on `project` to `member` (idempotent); BadRequest for unknown roles."""
    if role not in ROLE_PERMISSIONS:
        raise BadRequest(f"Role {role} is not supported; use one of {', '.join(ROLE_PERMISSIONS)}")
    if not _MEMBER.match(member):
        raise BadRequest(f"Invalid member {member!r}: expected user:EMAIL or serviceAccount:EMAIL")
    member = _normalize(member)
    binding = _binding(project, role, member, session=session)
    if binding is None:
        binding = models.IamBinding(resource=project_resource(project), role=role, member=member)
        session.add(binding)
        session.flush()
    return binding


def remove_project_binding(project: str, *, member: str, role: str, session: Session) -> None:
    binding = _binding(project, role, _normalize(member), session=session)
    if binding is None:
        raise NotFound(f"Policy binding with member {member} and role {role} not found")
    session.delete(binding)
    session.flush()


def project_policy(project: str, *, session: Session) -> dict[str, Any]:
    """`{"bindings": [{"role", "members"}]}` for the composer and basic roles on `project`."""
    rows = session.execute(
        select(models.IamBinding.role, models.IamBinding.member)
        .where(models.IamBinding.resource == project_resource(project))
        .order_by(models.IamBinding.role, models.IamBinding.member)
    )
    members: dict[str, list[str]] = {}
    for role, member in rows:
        members.setdefault(role, []).append(member)
    return {"bindings": [{"role": role, "members": names} for role, names in members.items()]}


def _binding(project: str, role: str, member: str, *, session: Session) -> models.IamBinding | None:
    return session.scalar(
        select(models.IamBinding).where(
            models.IamBinding.resource == project_resource(project),
            models.IamBinding.role == role,
            models.IamBinding.member == member,
        )
    )


def denied(permission: str, resource: str) -> GoogleError:
    return GoogleError(
        403, f"Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
    )


def requires(permission: str, resource: Callable[[Request], str]) -> Callable[[Request], Caller]:
    """A dependency: the authenticated caller, if they hold `permission` on the path's project.

    `resource` names the resource for the 403 message from the request's path parameters.
    """

    def check(request: Request) -> Caller:
        from aerovane.db.engine import create_session

        project = project_id_of(request.path_params["project"])
        with create_session(readonly=True) as session:
            caller = authenticate(request, project, session=session)
        if permission not in caller.permissions:
            raise denied(permission, resource(request))
        return caller

    check.__name__ = f"requires_{permission.rpartition('.')[2]}"
    return check
