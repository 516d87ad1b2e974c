"""Roles and their permissions in the database: the default roles (created idempotently),
managing custom roles, and per-DAG permissions from a DAG's `access_control`.

Functions handed a session never commit it; errors are `aerovane.services.errors`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aerovane.auth.permissions import (
    CREATE,
    DAG_PREFIX,
    DAG_RUN_PREFIX,
    DEFAULT_ROLES,
    DELETE,
    EDIT,
    MENU,
    READ,
    Perm,
)
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def ensure_permissions(session: Session, perms: set[Perm]) -> dict[Perm, models.Permission]:
    """Create missing actions, resources and (action, resource) pairs; return them all."""
    actions = {a.name: a for a in session.scalars(select(models.Action))}
    resources = {r.name: r for r in session.scalars(select(models.Resource))}
    for action, resource in perms:
        if action not in actions:
            actions[action] = models.Action(name=action)
            session.add(actions[action])
        if resource not in resources:
            resources[resource] = models.Resource(name=resource)
            session.add(resources[resource])
    session.flush()
    existing = {
        (p.action.name, p.resource.name): p for p in session.scalars(select(models.Permission))
    }
    for action, resource in perms:
        if (action, resource) not in existing:
            perm = models.Permission(
                permission_id=actions[action].id, view_menu_id=resources[resource].id
            )
            session.add(perm)
            perm.action, perm.resource = actions[action], resources[resource]
            existing[(action, resource)] = perm
    session.flush()
    return existing


def sync_default_roles() -> None:
    """Make sure Admin, Op, User, Viewer and Public exist with at least Airflow's permissions.

    Runs at every start (`db migrate`), so it works on id columns with a handful of set-based
    statements rather than loading the roles' permission objects one by one.
    """
    wanted: set[Perm] = set().union(*DEFAULT_ROLES.values())
    with create_session() as session:
        perm_ids = _permission_ids(session, wanted)
        role_ids = _named_ids(session, models.Role, list(DEFAULT_ROLES))
        assigned = select(models.RolePermission.role_id, models.RolePermission.permission_view_id)
        have = {(role, perm) for role, perm in session.execute(assigned)}
        missing = sorted(
            {
                (role_ids[name], perm_ids[perm])
                for name, perms in DEFAULT_ROLES.items()
                for perm in perms
            }
            - have
        )
        if missing:
            session.execute(
                insert(models.RolePermission),
                [{"role_id": role, "permission_view_id": perm} for role, perm in missing],
            )


def _named_ids(session: Session, model: Any, names: Iterable[str]) -> dict[str, int]:
    """name → id for `names` in an (id, name) table, inserting the missing ones in the order
    given (Admin, Op, User, Viewer, Public get Airflow's role ids)."""
    names = list(dict.fromkeys(names))
    ids = dict(session.execute(select(model.name, model.id)).all())
    if absent := [name for name in names if name not in ids]:
        session.execute(insert(model), [{"name": name} for name in absent])
        ids = dict(session.execute(select(model.name, model.id)).all())
    return {name: ids[name] for name in names}


def _permission_ids(session: Session, perms: set[Perm]) -> dict[Perm, int]:
    """(action, resource) → ab_permission_view id, inserting missing actions, resources and
    pairs."""
    actions = _named_ids(session, models.Action, sorted({action for action, _ in perms}))
    resources = _named_ids(session, models.Resource, sorted({resource for _, resource in perms}))
    pair = select(
        models.Permission.permission_id, models.Permission.view_menu_id, models.Permission.id
    )
    ids = {(a, r): pid for a, r, pid in session.execute(pair).all()}
    wanted = {(actions[a], resources[r]): (a, r) for a, r in perms}
    if absent := sorted(wanted.keys() - ids.keys()):
        session.execute(
            insert(models.Permission),
            [{"permission_id": a, "view_menu_id": r} for a, r in absent],
        )
        ids = {(a, r): pid for a, r, pid in session.execute(pair).all()}
    return {perm: ids[key] for key, perm in wanted.items()}


# -- managing roles (the REST API's roles endpoints and `aerovane roles ...`) ----------------------

ROLE_NAME_MAX = 64


def role_not_found(name: str) -> NotFound:
    return NotFound(f"Role with name {name!r} was not found")


def all_roles(*, session: Session) -> list[models.Role]:
    return list(session.scalars(select(models.Role).order_by(models.Role.name)))


def find_role(name: str, *, session: Session) -> models.Role | None:
    return session.scalar(select(models.Role).where(models.Role.name == name))


def get_role(name: str, *, session: Session) -> models.Role:
    role = find_role(name, session=session)
    if role is None:
        raise role_not_found(name)
    return role


def _validate_role_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Role name must not be empty")
    if len(name) > ROLE_NAME_MAX:
        raise BadRequest(f"Role name must be at most {ROLE_NAME_MAX} characters")
    if _CONTROL_RE.search(name):
        raise BadRequest("Role name must not contain control characters")


def check_permissions_exist(perms: Iterable[Perm], *, session: Session) -> None:
    """BadRequest for the first (action, resource) whose action or resource does not exist."""
    perms = list(perms)
    if not perms:
        return
    actions = set(
        session.scalars(
            select(models.Action.name).where(models.Action.name.in_({a for a, _ in perms}))
        )
    )
    resources = set(
        session.scalars(
            select(models.Resource.name).where(models.Resource.name.in_({r for _, r in perms}))
        )
    )
    for action, resource in perms:
        if action not in actions:
            raise BadRequest(f"The specified action: {action!r} was not found")
        if resource not in resources:
            raise BadRequest(f"The specified resource: {resource!r} was not found")


def permission_rows(
    perms: Iterable[Perm], *, session: Session, create: bool = True
) -> dict[Perm, models.Permission]:
    """The (action, resource) rows for `perms`, creating missing actions, resources and pairs.

    Unlike `ensure_permissions` this reads only the rows it needs, so it is cheap to call for
    one DAG or one role at a time.
    """
    wanted = set(perms)
    if not wanted:
        return {}
    action_names = {a for a, _ in wanted}
    resource_names = {r for _, r in wanted}
    actions = {
        a.name: a
        for a in session.scalars(select(models.Action).where(models.Action.name.in_(action_names)))
    }
    resources = {
        r.name: r
        for r in session.scalars(
            select(models.Resource).where(models.Resource.name.in_(resource_names))
        )
    }
    if create:
        for name in sorted(action_names - set(actions)):
            actions[name] = models.Action(name=name)
            session.add(actions[name])
        for name in sorted(resource_names - set(resources)):
            resources[name] = models.Resource(name=name)
            session.add(resources[name])
        session.flush()
    found: dict[Perm, models.Permission] = {}
    if actions and resources:
        query = select(models.Permission).where(
            models.Permission.permission_id.in_([a.id for a in actions.values()]),
            models.Permission.view_menu_id.in_([r.id for r in resources.values()]),
        )
        for perm in session.scalars(query):
            key = (perm.action.name, perm.resource.name)
            if key in wanted:
                found[key] = perm
    if create:
        for action, resource in sorted(wanted - set(found)):
            perm = models.Permission(action=actions[action], resource=resources[resource])
            session.add(perm)
            found[(action, resource)] = perm
        session.flush()
    return found


def role_permission_pairs(role: models.Role) -> list[Perm]:
    """A role's (action, resource) pairs, sorted by resource then action."""
    return sorted(
        ((p.action.name, p.resource.name) for p in role.permissions), key=lambda p: (p[1], p[0])
    )


def grant_permissions(role: models.Role, perms: Iterable[Perm], *, session: Session) -> list[Perm]:
    """Give `role` the permissions it lacks (creating pairs as needed); return those added."""
    perms = list(dict.fromkeys(perms))
    have = {(p.action.name, p.resource.name) for p in role.permissions}
    missing = [perm for perm in perms if perm not in have]
    if not missing:
        return []
    rows = permission_rows(missing, session=session)
    role.permissions.extend(rows[perm] for perm in missing)
    session.flush()
    return missing


def revoke_permissions(role: models.Role, perms: Iterable[Perm], *, session: Session) -> list[Perm]:
    """Take the given permissions from `role`; return those it had."""
    drop = set(perms)
    removed = [
        (p.action.name, p.resource.name)
        for p in role.permissions
        if (p.action.name, p.resource.name) in drop
    ]
    if removed:
        role.permissions = [
            p for p in role.permissions if (p.action.name, p.resource.name) not in drop
        ]
        session.flush()
    return removed


def create_role(name: str, perms: Iterable[Perm] = (), *, session: Session) -> models.Role:
    """A new role holding `perms`, whose actions and resources must already exist."""
    _validate_role_name(name)
    perms = list(dict.fromkeys(perms))
    if find_role(name, session=session) is not None:
        raise AlreadyExists(
            f"Role with name {name!r} already exists; please update with the PATCH endpoint"
        )
    check_permissions_exist(perms, session=session)
    role = models.Role(name=name)
    role.permissions = []
    try:
        with session.begin_nested():
            session.add(role)
            session.flush()
    except IntegrityError:
        raise AlreadyExists(f"Role with name {name!r} already exists") from None
    grant_permissions(role, perms, session=session)
    return role


def update_role(
    role: models.Role,
    *,
    name: str | None = None,
    perms: Iterable[Perm] | None = None,
    session: Session,
) -> None:
    """Rename `role` and/or add permissions to it.

    As Airflow 2's `PATCH /roles/{name}` does (FAB's `bulk_sync_roles`), listed permissions are
    added and none are taken away; `revoke_permissions` removes them.
    """
    if perms is not None:
        perms = list(dict.fromkeys(perms))
        check_permissions_exist(perms, session=session)
    if name is not None and name != role.name:
        _validate_role_name(name)
        if find_role(name, session=session) is not None:
            raise AlreadyExists(f"Role with name {name!r} already exists")
        role.name = name
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise AlreadyExists(f"Role with name {name!r} already exists") from None
    if perms:
        grant_permissions(role, perms, session=session)


def delete_role(name: str, *, session: Session) -> None:
    role = get_role(name, session=session)
    session.execute(delete(models.UserRole).where(models.UserRole.role_id == role.id))
    role.permissions = []
    session.delete(role)
    session.flush()


# -- per-DAG permissions from `access_control` ------------------------------------------------

#: Resource kinds a DAG's `access_control` may name, with the per-DAG actions each allows.
DAG_RESOURCE_ACTIONS: dict[str, frozenset[str]] = {
    "DAGs": frozenset({READ, EDIT, DELETE}),
    "DAG Runs": frozenset({READ, CREATE, DELETE, MENU}),
}
_DAG_RESOURCE_PREFIX = {"DAGs": DAG_PREFIX, "DAG Runs": DAG_RUN_PREFIX}
#: Action names from Airflow 1.10 that DAG files may still use.
_LEGACY_DAG_ACTIONS = {"can_dag_read": READ, "can_dag_edit": EDIT}
ADMIN_ROLE = "Admin"


def dag_resource_name(dag_id: str, kind: str = "DAGs") -> str:
    return _DAG_RESOURCE_PREFIX[kind] + dag_id


def _normalize_access_control(
    dag_id: str, access_control: Mapping[str, Any]
) -> dict[str, dict[str, set[str]]]:
    """`{role: [actions]}` or `{role: {"DAGs"|"DAG Runs": [actions]}}` → the second form,
    validated with Airflow's messages."""
    normalized: dict[str, dict[str, set[str]]] = {}
    for role_name, spec in access_control.items():
        by_kind = spec if isinstance(spec, Mapping) else {"DAGs": spec}
        normalized[role_name] = {}
        for kind, actions in by_kind.items():
            if kind not in DAG_RESOURCE_ACTIONS:
                raise BadRequest(
                    f"The access_control map for DAG '{dag_resource_name(dag_id)}' includes the "
                    f"following invalid resource name: '{kind}'; The available resources are: "
                    f"{sorted(DAG_RESOURCE_ACTIONS)}"
                )
            if isinstance(actions, str):
                actions = [actions]
            if actions is not None and not isinstance(actions, list | tuple | set | frozenset):
                actions = [actions]
            names = {_LEGACY_DAG_ACTIONS.get(str(a), str(a)) for a in actions or ()}
            invalid = names - DAG_RESOURCE_ACTIONS[kind]
            if invalid:
                raise BadRequest(
                    f"The access_control map for DAG '{dag_resource_name(dag_id, kind)}' includes "
                    f"the following invalid permissions: {sorted(invalid)}; The set of valid "
                    f"permissions is: {sorted(DAG_RESOURCE_ACTIONS[kind])}"
                )
            normalized[role_name][kind] = names
    return normalized


def sync_dag_permissions(
    dag_id: str, access_control: Mapping[str, Any] | None, *, session: Session
) -> None:
    """Create `DAG:<dag_id>` and `DAG Run:<dag_id>` permissions; with an `access_control`, make
    every role but Admin hold exactly the per-DAG permissions it lists (Airflow's
    `sync_perm_for_dag`). BadRequest, before anything is written, for an invalid mapping or a
    role that does not exist. Without `access_control`, existing grants are left alone.
    """
    wanted = _normalize_access_control(dag_id, access_control) if access_control else None
    roles: dict[str, int] = {}
    if wanted:
        roles = {
            name: role_id
            for name, role_id in session.execute(
                select(models.Role.name, models.Role.id).where(models.Role.name.in_(wanted))
            )
        }
        for role_name in wanted:
            if role_name not in roles:
                raise BadRequest(
                    f"The access_control mapping for DAG '{dag_resource_name(dag_id)}' includes "
                    f"a role named '{role_name}', but that role does not exist"
                )
    all_perms = {
        (action, dag_resource_name(dag_id, kind))
        for kind, actions in DAG_RESOURCE_ACTIONS.items()
        for action in actions
    }
    rows = permission_rows(all_perms, session=session)
    if wanted is None:
        return
    target: set[tuple[int, int]] = {
        (roles[role_name], rows[(action, dag_resource_name(dag_id, kind))].id)
        for role_name, by_kind in wanted.items()
        for kind, actions in by_kind.items()
        for action in actions
    }
    perm_ids = [perm.id for perm in rows.values()]
    rp = models.RolePermission.__table__
    current = {
        (row.role_id, row.permission_view_id): row.id
        for row in session.execute(
            select(rp.c.id, rp.c.role_id, rp.c.permission_view_id)
            .select_from(rp.join(models.Role.__table__, models.Role.id == rp.c.role_id))
            .where(rp.c.permission_view_id.in_(perm_ids), models.Role.name != ADMIN_ROLE)
        )
    }
    stale = [row_id for key, row_id in current.items() if key not in target]
    if stale:
        session.execute(delete(rp).where(rp.c.id.in_(stale)))
    missing = sorted(target - set(current))
    if missing:
        session.execute(rp.insert(), [{"role_id": r, "permission_view_id": p} for r, p in missing])
    # Role objects already in this session must not keep a stale permission list.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, models.Role):
            session.expire(obj, ["permissions"])
