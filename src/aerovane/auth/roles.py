"""Creating the default roles and their permissions in the database (idempotent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.auth.permissions import DEFAULT_ROLES, Perm
from aerovane.db import models
from aerovane.db.engine import create_session


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
    existing = {(p.action.name, p.resource.name): p for p in session.scalars(select(models.Permission))}
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
    """Make sure Admin, Op, User, Viewer and Public exist with at least Airflow's permissions."""
    with create_session() as session:
        all_perms: set[Perm] = set().union(*DEFAULT_ROLES.values())
        perm_rows = ensure_permissions(session, all_perms)
        roles = {r.name: r for r in session.scalars(select(models.Role))}
        for name, perms in DEFAULT_ROLES.items():
            role = roles.get(name)
            if role is None:
                role = models.Role(name=name)
                session.add(role)
            have = {(p.action.name, p.resource.name) for p in role.permissions}
            for perm in perms - have:
                role.permissions.append(perm_rows[perm])
