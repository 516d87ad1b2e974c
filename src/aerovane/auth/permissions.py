"""Airflow 2's permission model: actions on resources, and the default roles' sets.

The sets are Airflow 2.9-2.11's (FAB provider 1.5) exactly; Admin also receives every
non-DAG-specific permission that exists, as Airflow's `update_admin_permission` does.
"""

from __future__ import annotations

READ, EDIT, CREATE, DELETE, MENU = "can_read", "can_edit", "can_create", "can_delete", "menu_access"
ACTIONS = (READ, EDIT, CREATE, DELETE, MENU)

DAG_PREFIX = "DAG:"
DAG_RUN_PREFIX = "DAG Run:"

Perm = tuple[str, str]


def _expand(spec: dict[str, str]) -> set[Perm]:
    letters = {"R": READ, "E": EDIT, "C": CREATE, "D": DELETE, "M": MENU}
    return {(letters[ch], resource) for resource, codes in spec.items() for ch in codes}


VIEWER: set[Perm] = _expand(
    {
        "DAGs": "RM",
        "DAG Runs": "RM",
        "Task Instances": "RM",
        "Datasets": "RM",
        "DAG Code": "R",
        "DAG Warnings": "R",
        "ImportError": "R",
        "Task Logs": "R",
        "Website": "R",
        "XComs": "R",
        "Pools": "R",
        "DAG Dependencies": "RM",
        "Cluster Activity": "RM",
        "Jobs": "RM",
        "SLA Misses": "RM",
        "My Password": "RE",
        "My Profile": "RE",
        "Browse": "M",
        "Docs": "M",
        "Documentation": "M",
    }
)
USER: set[Perm] = VIEWER | _expand(
    {"DAGs": "ED", "DAG Runs": "CED", "Task Instances": "CED", "Datasets": "C"}
)
OP: set[Perm] = USER | _expand(
    {
        "Datasets": "D",
        "XComs": "DM",
        "Pools": "CEDM",
        "Configurations": "RM",
        "Plugins": "RM",
        "Providers": "RM",
        "Connections": "RCEDM",
        "Variables": "RCEDM",
        "Admin": "M",
    }
)
ADMIN_EXPLICIT: set[Perm] = OP | _expand(
    {
        "Audit Logs": "RM",
        "Task Reschedules": "RM",
        "Triggers": "RM",
        "Passwords": "RE",
        "Roles": "RE",
    }
)
#: Security-manager permissions that exist on every install; Admin gets them implicitly.
SECURITY: set[Perm] = _expand(
    {
        "Users": "RCEDM",
        "Roles": "RCEDM",
        "Permissions": "RM",
        "View Menus": "RM",
        "Permission Views": "RM",
        "Security": "M",
        "List Users": "M",
        "List Roles": "M",
    }
)
ADMIN: set[Perm] = ADMIN_EXPLICIT | SECURITY

DEFAULT_ROLES: dict[str, set[Perm]] = {
    "Admin": ADMIN,
    "Op": OP,
    "User": USER,
    "Viewer": VIEWER,
    "Public": set(),
}

ALL_PERMISSIONS: set[Perm] = ADMIN
