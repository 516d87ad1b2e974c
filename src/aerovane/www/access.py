"""Permission checks for pages: the API's RBAC (`aerovane.auth.rbac`), per-DAG access included.

Dependencies (`requires_page_access`, `requires_page_dag_access`) enforce on the server (403
page); `Access` is what templates ask to decide whether to show a menu item or a button. Both
read the same permission set the API authorizes with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from aerovane.api.deps import Principal
from aerovane.auth.permissions import Perm
from aerovane.auth.rbac import METHOD_ACTIONS, DagEntity, has_access, is_authorized_dag
from aerovane.www.auth import PagePrincipal
from aerovane.www.errors import PageError

FORBIDDEN = "You do not have permission to do that."


class Access:
    """`can(...)` / `can_dag(...)` for one principal, as templates call them."""

    def __init__(self, principal: Principal | None) -> None:
        self._perms: frozenset[Perm] = principal.permissions if principal else frozenset()

    def can(self, action: str, resource: str, dag_id: str | None = None) -> bool:
        return has_access(self._perms, action, resource, dag_id)

    def can_dag(
        self, method: str, dag_id: str | None = None, entity: DagEntity | str | None = None
    ) -> bool:
        """Airflow's `requires_access_dag(method, entity)`: `entity` a `DagEntity` or its
        name (`"RUN"`, `"TASK_INSTANCE"`, ...), as templates cannot import the enum."""
        if isinstance(entity, str):
            entity = DagEntity[entity]
        return is_authorized_dag(self._perms, method, entity, dag_id)


def requires_page_access(action: str, resource: str) -> Callable[..., Any]:
    """403 page unless the person holds (action, resource)."""

    async def check(principal: PagePrincipal) -> None:
        if (action, resource) not in principal.permissions:
            raise PageError(403, FORBIDDEN)

    check.__name__ = f"requires_page_access_{action}_{resource.replace(' ', '_')}"
    return check


def requires_page_dag_access(method: str, entity: DagEntity | None = None) -> Callable[..., Any]:
    """403 page unless the person may `method` the path's DAG (`dag_id`), or DAGs in general.

    `method` is the API method whose rule applies (`GET` read, `PUT` edit, `POST` create,
    `DELETE`), not the page's own: a form posted to pause a DAG checks `PUT`."""
    if method not in METHOD_ACTIONS:
        raise ValueError(f"unknown method {method!r}")

    async def check(request: Request, principal: PagePrincipal) -> None:
        dag_id = request.path_params.get("dag_id")
        if not is_authorized_dag(principal.permissions, method, entity, dag_id):
            raise PageError(403, FORBIDDEN)

    check.__name__ = f"requires_page_dag_access_{method.lower()}"
    return check
