"""Authorization decisions: which (action, resource) pairs a caller holds and what they allow.

The rules are Airflow 2's FAB auth manager's (see the API notes, §1 "How permissions are
checked"): DAG-level checks accept the global `DAGs` resource or the per-DAG `DAG:<dag_id>`,
DAG-run checks accept `DAG Runs` or `DAG Run:<dag_id>`, everything else needs the global
resource. The decision functions are pure (a permission set in, a bool out); the loaders read a
user's or a role's permissions in one query each, and on SQLite none at all while no user,
role or permission has changed (`auth_memo`). This module knows nothing about HTTP.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, literal, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import GenericFunction

from aerovane.auth.permissions import (
    CREATE,
    DAG_PREFIX,
    DAG_RUN_PREFIX,
    DELETE,
    EDIT,
    READ,
    Perm,
)
from aerovane.db import models
from aerovane.db.engine import auth_memo

DAGS = "DAGs"
DAG_RUNS = "DAG Runs"
PUBLIC_ROLE = "Public"

#: HTTP method → FAB action, as Airflow maps them.
METHOD_ACTIONS: dict[str, str] = {
    "GET": READ,
    "HEAD": READ,
    "POST": CREATE,
    "PUT": EDIT,
    "PATCH": EDIT,
    "DELETE": DELETE,
}


class DagEntity(enum.Enum):
    """Things that belong to a DAG, each guarded by its own resource(s) as well as the DAG's."""

    RUN = (DAG_RUNS,)
    TASK_INSTANCE = (DAG_RUNS, "Task Instances")
    TASK = ("Task Instances",)
    CODE = ("DAG Code",)
    AUDIT_LOG = ("Audit Logs",)
    WARNING = ("DAG Warnings",)
    XCOM = ("XComs",)
    TASK_LOGS = ("Task Logs",)
    DEPENDENCIES = ("DAG Dependencies",)

    @property
    def resources(self) -> tuple[str, ...]:
        return self.value


def _specific(dag_id: str | None) -> str | None:
    """The DAG id a check is about; `~` (all DAGs) and empty mean none in particular."""
    return None if not dag_id or dag_id == "~" else dag_id


def permissions_of(user: models.User) -> set[Perm]:
    """The union of the permissions of all of `user`'s roles."""
    return {
        (perm.action.name, perm.resource.name) for role in user.roles for perm in role.permissions
    }


def has_access(
    perms: frozenset[Perm] | set[Perm], action: str, resource: str, dag_id: str | None = None
) -> bool:
    """`action` on `resource`, where DAGs and DAG Runs also accept the per-DAG resource."""
    if (action, resource) in perms:
        return True
    dag_id = _specific(dag_id)
    if dag_id is None:
        return False
    if resource == DAGS:
        return (action, DAG_PREFIX + dag_id) in perms
    if resource == DAG_RUNS:
        return (action, DAG_RUN_PREFIX + dag_id) in perms
    return False


def _any_dag_grant(perms: Iterable[Perm], action: str) -> bool:
    return any(a == action and r.startswith(DAG_PREFIX) for a, r in perms)


def is_authorized_dag(
    perms: frozenset[Perm] | set[Perm],
    method: str,
    entity: DagEntity | None = None,
    dag_id: str | None = None,
) -> bool:
    """Airflow's `requires_access_dag(method, entity)` for a caller holding `perms`.

    Without an entity: the DAG itself (global or per-DAG); for a list (no `dag_id`), GET and PUT
    also pass with any one per-DAG grant, and the list is then filtered. With an entity: read
    (GET) or edit (other methods) on the DAG when a `dag_id` is given, plus the method's action
    on every resource of the entity.
    """
    action = METHOD_ACTIONS[method]
    dag_id = _specific(dag_id)
    if entity is None:
        if has_access(perms, action, DAGS, dag_id):
            return True
        if dag_id is None and method in {"GET", "PUT", "PATCH"}:
            return _any_dag_grant(perms, action)
        return False
    dag_action = READ if method in {"GET", "HEAD"} else EDIT
    if dag_id is not None and not has_access(perms, dag_action, DAGS, dag_id):
        return False
    return all(has_access(perms, action, resource, dag_id) for resource in entity.resources)


def permitted_dag_ids(
    perms: frozenset[Perm] | set[Perm], action: str = READ
) -> frozenset[str] | None:
    """The DAG ids `action` is allowed on, or None when it is allowed on every DAG.

    Per-DAG grants name their DAG, so filtering needs no list of all DAGs.
    """
    if (action, DAGS) in perms:
        return None
    return frozenset(
        resource[len(DAG_PREFIX) :]
        for a, resource in perms
        if a == action and resource.startswith(DAG_PREFIX)
    )


def readable_dag_ids(perms: frozenset[Perm] | set[Perm], all_dag_ids: Iterable[str]) -> set[str]:
    """The members of `all_dag_ids` the caller may read."""
    allowed = permitted_dag_ids(perms, READ)
    if allowed is None:
        return set(all_dag_ids)
    return {dag_id for dag_id in all_dag_ids if dag_id in allowed}


# -- loading ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserAccess:
    """What authentication and authorization need to know about one user."""

    user_id: int
    username: str
    password: str | None
    active: bool
    display_name: str
    permissions: frozenset[Perm]
    #: Moves on when the user signs out: session cookies carry the value they were issued with.
    session_epoch: int = 0


_u = models.User.__table__
_ur = models.UserRole.__table__
_role = models.Role.__table__
_rp = models.RolePermission.__table__
_pv = models.Permission.__table__
_action = models.Action.__table__
_resource = models.Resource.__table__

# Permissions come back as one string per query (`action<US>resource<RS>...`, aggregated by the
# database), which costs far less than one result row per permission: Admin holds ~100.
_UNIT, _RECORD = "\x1f", "\x1e"


class _joined_permissions(GenericFunction[str]):
    """`aggregate_strings` with the separator written into the SQL: SQLAlchemy's own renders it
    as a literal-execute parameter, which re-renders the statement on every execution."""

    inherit_cache = True
    name = "joined_permissions"


@compiles(_joined_permissions, "postgresql")
def _joined_permissions_pg(element: Any, compiler: Any, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)})"


@compiles(_joined_permissions)
def _joined_permissions_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)})"


_PERMS = _joined_permissions(
    _action.c.name + literal(_UNIT) + _resource.c.name, literal_column(f"'{_RECORD}'")
)

# Built once: the statements are bound per call, so SQLAlchemy's compiled cache always hits.
_USER_ACCESS = (
    select(_u.c.id, _u.c.password, _u.c.active, _u.c.first_name, _u.c.last_name, _PERMS)
    .select_from(
        _u.outerjoin(_ur, _ur.c.user_id == _u.c.id)
        .outerjoin(_rp, _rp.c.role_id == _ur.c.role_id)
        .outerjoin(_pv, _pv.c.id == _rp.c.permission_view_id)
        .outerjoin(_action, _action.c.id == _pv.c.permission_id)
        .outerjoin(_resource, _resource.c.id == _pv.c.view_menu_id)
    )
    .where(_u.c.username == bindparam("username"))
    .group_by(_u.c.id, _u.c.password, _u.c.active, _u.c.first_name, _u.c.last_name)
)

_ROLE_PERMISSIONS = (
    select(_PERMS)
    .select_from(
        _role.join(_rp, _rp.c.role_id == _role.c.id)
        .join(_pv, _pv.c.id == _rp.c.permission_view_id)
        .join(_action, _action.c.id == _pv.c.permission_id)
        .join(_resource, _resource.c.id == _pv.c.view_menu_id)
    )
    .where(_role.c.name == bindparam("role_name"))
)


_parsed: dict[str, frozenset[Perm]] = {}


def _parse_permissions(aggregated: str | None) -> frozenset[Perm]:
    if not aggregated:
        return frozenset()
    perms = _parsed.get(aggregated)
    if perms is None:
        if len(_parsed) >= 256:
            _parsed.clear()
        perms = _parsed[aggregated] = _split_permissions(aggregated)
    return perms


def _split_permissions(aggregated: str) -> frozenset[Perm]:
    perms: set[Perm] = set()
    for record in aggregated.split(_RECORD):
        action, _, resource = record.partition(_UNIT)
        perms.add((action, resource))
    return frozenset(perms)


T = TypeVar("T")


def _memoised(session: Session, key: tuple[str, Any], load: Callable[[], T]) -> T:
    """`load()`, or what it returned for `key` since no user, role or permission changed."""
    memo = auth_memo(session)
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    value: T = memo[key]
    return value


def load_user_access(username: str, *, session: Session) -> UserAccess | None:
    """The user's credentials and the union of their roles' permissions, in one query (none
    while no user, role or permission changed, on SQLite)."""
    return _memoised(
        session, ("user", username), lambda: _load_user_access(username, session=session)
    )


def _load_user_access(username: str, *, session: Session) -> UserAccess | None:
    row = session.execute(_USER_ACCESS, {"username": username}).first()
    if row is None:
        return None
    user_id, password, active, first_name, last_name, aggregated = row
    display = f"{first_name or ''} {last_name or ''}".strip() or username
    return UserAccess(
        user_id=user_id,
        username=username,
        password=password,
        active=bool(active),
        display_name=display,
        permissions=_parse_permissions(aggregated),
    )


def role_permissions(role_name: str, *, session: Session) -> frozenset[Perm]:
    """The permissions of one role (empty if the role does not exist); memoised like
    `load_user_access`."""
    return _memoised(
        session,
        ("role", role_name),
        lambda: _parse_permissions(session.scalar(_ROLE_PERMISSIONS, {"role_name": role_name})),
    )


__all__ = [
    "CREATE",
    "DAGS",
    "DAG_RUNS",
    "DELETE",
    "EDIT",
    "METHOD_ACTIONS",
    "PUBLIC_ROLE",
    "READ",
    "DagEntity",
    "UserAccess",
    "has_access",
    "is_authorized_dag",
    "load_user_access",
    "permissions_of",
    "permitted_dag_ids",
    "readable_dag_ids",
    "role_permissions",
]


# -- loading by id (session cookies name a user by id) --------------------------------------------

_USER_ACCESS_BY_ID = (
    select(
        _u.c.username,
        _u.c.password,
        _u.c.active,
        _u.c.first_name,
        _u.c.last_name,
        _action.c.name,
        _resource.c.name,
        _u.c.session_epoch,
    )
    .select_from(
        _u.outerjoin(_ur, _ur.c.user_id == _u.c.id)
        .outerjoin(_rp, _rp.c.role_id == _ur.c.role_id)
        .outerjoin(_pv, _pv.c.id == _rp.c.permission_view_id)
        .outerjoin(_action, _action.c.id == _pv.c.permission_id)
        .outerjoin(_resource, _resource.c.id == _pv.c.view_menu_id)
    )
    .where(_u.c.id == bindparam("user_id"))
)


def load_user_access_by_id(user_id: int, *, session: Session) -> UserAccess | None:
    """`load_user_access` for a user named by id, in one query (memoised the same way)."""
    return _memoised(
        session, ("user_id", user_id), lambda: _load_user_access_by_id(user_id, session=session)
    )


def _load_user_access_by_id(user_id: int, *, session: Session) -> UserAccess | None:
    rows = session.execute(_USER_ACCESS_BY_ID, {"user_id": user_id}).all()
    if not rows:
        return None
    first = rows[0]
    username = first[0]
    perms = frozenset((row[5], row[6]) for row in rows if row[5] is not None)
    display = f"{first[3] or ''} {first[4] or ''}".strip() or username
    return UserAccess(
        user_id=user_id,
        username=username,
        password=first[1],
        active=bool(first[2]),
        display_name=display,
        permissions=perms,
        session_epoch=int(first[7] or 0),
    )


__all__ += ["load_user_access_by_id"]
