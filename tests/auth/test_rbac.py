"""Authorization decisions (§1 "How permissions are checked") and permission loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerovane.auth.permissions import ADMIN, CREATE, DELETE, EDIT, OP, READ, USER, VIEWER
from aerovane.auth.rbac import (
    DagEntity,
    has_access,
    is_authorized_dag,
    load_user_access,
    permissions_of,
    permitted_dag_ids,
    readable_dag_ids,
    role_permissions,
)
from aerovane.auth.users import create_user, find_user
from aerovane.db.engine import create_session

PER_DAG = frozenset(
    {
        (READ, "DAG:etl"),
        (EDIT, "DAG:etl"),
        (READ, "DAG Run:etl"),
        (CREATE, "DAG Run:etl"),
        (READ, "DAG:report"),
    }
)


def test_has_access_global_and_per_dag() -> None:
    assert has_access(VIEWER, READ, "DAGs")
    assert has_access(VIEWER, READ, "DAGs", "anything")
    assert not has_access(VIEWER, EDIT, "DAGs", "anything")
    assert has_access(PER_DAG, READ, "DAGs", "etl")
    assert not has_access(PER_DAG, READ, "DAGs", "other")
    assert not has_access(PER_DAG, READ, "DAGs")
    assert not has_access(PER_DAG, READ, "DAGs", "~")
    assert has_access(PER_DAG, CREATE, "DAG Runs", "etl")
    assert not has_access(PER_DAG, CREATE, "DAG Runs", "report")
    # Per-DAG resources exist only for DAGs and DAG Runs.
    assert not has_access(frozenset({(READ, "Task Instances:etl")}), READ, "Task Instances", "etl")


@pytest.mark.parametrize(
    ("perms", "method", "entity", "dag_id", "allowed"),
    [
        (VIEWER, "GET", None, None, True),
        (VIEWER, "GET", None, "etl", True),
        (VIEWER, "PUT", None, "etl", False),
        (USER, "PUT", None, "etl", True),
        (VIEWER, "GET", DagEntity.RUN, "~", True),
        (VIEWER, "POST", DagEntity.RUN, "etl", False),
        (USER, "POST", DagEntity.RUN, "etl", True),
        (VIEWER, "GET", DagEntity.TASK_INSTANCE, "etl", True),
        (VIEWER, "GET", DagEntity.TASK_LOGS, "etl", True),
        (frozenset(), "GET", None, None, False),
        (frozenset(), "GET", None, "etl", False),
        # Lists pass with any one per-DAG grant (then get filtered).
        (PER_DAG, "GET", None, None, True),
        (PER_DAG, "PUT", None, None, True),
        (PER_DAG, "DELETE", None, None, False),
        (PER_DAG, "GET", None, "etl", True),
        (PER_DAG, "GET", None, "other", False),
        (PER_DAG, "PUT", None, "etl", True),
        (PER_DAG, "PUT", None, "report", False),
        (PER_DAG, "GET", DagEntity.RUN, "etl", True),
        (PER_DAG, "POST", DagEntity.RUN, "etl", True),
        (PER_DAG, "POST", DagEntity.RUN, "report", False),
        # `~` for runs needs the global DAG Runs resource.
        (PER_DAG, "GET", DagEntity.RUN, "~", False),
        (PER_DAG | {(READ, "DAG Runs")}, "GET", DagEntity.RUN, "~", True),
        # TASK_INSTANCE needs Task Instances as well as DAG Runs.
        (PER_DAG, "GET", DagEntity.TASK_INSTANCE, "etl", False),
        (PER_DAG | {(READ, "Task Instances")}, "GET", DagEntity.TASK_INSTANCE, "etl", True),
        # The entity grant alone is not enough without the DAG.
        (frozenset({(CREATE, "DAG Runs"), (READ, "DAGs")}), "POST", DagEntity.RUN, "etl", False),
        (frozenset({(DELETE, "DAG Runs"), (EDIT, "DAGs")}), "DELETE", DagEntity.RUN, "x", True),
    ],
)
def test_is_authorized_dag(
    perms: frozenset[tuple[str, str]],
    method: str,
    entity: DagEntity | None,
    dag_id: str | None,
    allowed: bool,
) -> None:
    assert is_authorized_dag(perms, method, entity, dag_id) is allowed


def test_permitted_and_readable_dag_ids() -> None:
    assert permitted_dag_ids(VIEWER) is None
    assert permitted_dag_ids(PER_DAG) == {"etl", "report"}
    assert permitted_dag_ids(PER_DAG, EDIT) == {"etl"}
    assert permitted_dag_ids(frozenset()) == frozenset()
    everything = ["etl", "report", "secret"]
    assert readable_dag_ids(VIEWER, everything) == set(everything)
    assert readable_dag_ids(PER_DAG, everything) == {"etl", "report"}
    assert readable_dag_ids(frozenset(), everything) == set()


def test_default_role_permissions_from_the_database(db: Path) -> None:
    with create_session(readonly=True) as session:
        assert role_permissions("Viewer", session=session) == VIEWER
        assert role_permissions("User", session=session) == USER
        assert role_permissions("Op", session=session) == OP
        assert role_permissions("Admin", session=session) == ADMIN
        assert role_permissions("Public", session=session) == frozenset()
        assert role_permissions("Nope", session=session) == frozenset()


def test_user_permissions_are_the_union_of_roles(db: Path) -> None:
    with create_session() as session:
        create_user(
            username="both",
            email="both@example.com",
            first_name="Bo",
            last_name="Th",
            role_names=["Viewer", "Op"],
            password="pw",
            session=session,
        )
        create_user(
            username="nobody",
            email="nobody@example.com",
            first_name="",
            last_name="",
            role_names=[],
            password="pw",
            session=session,
        )
    with create_session(readonly=True) as session:
        user = find_user("both", session=session)
        assert user is not None
        assert permissions_of(user) == VIEWER | OP
        access = load_user_access("both", session=session)
        assert access is not None
        assert access.permissions == VIEWER | OP
        assert access.display_name == "Bo Th"
        assert access.active and access.password
        nobody = load_user_access("nobody", session=session)
        assert nobody is not None
        assert nobody.permissions == frozenset()
        assert nobody.display_name == "nobody"
        assert load_user_access("ghost", session=session) is None
