"""`/api/v1/permissions` (the actions that exist), and per-DAG permissions: the DAG processor
creates `DAG:<id>` / `DAG Run:<id>` permissions and grants a DAG's `access_control` to roles,
which then see and act on that DAG only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api.v1.datamodels.permissions import ActionCollectionResponse
from aerovane.auth.rbac import role_permissions
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.errors import BadRequest
from tests.api.conftest import add_role, add_user
from tests.api.test_errors import assert_problem

ACTIONS = {"can_read", "can_edit", "can_create", "can_delete", "menu_access"}
DAG_PERMS = {("can_read", "DAG:{}"), ("can_edit", "DAG:{}"), ("can_delete", "DAG:{}")}
RUN_PERMS = {
    ("can_read", "DAG Run:{}"),
    ("can_create", "DAG Run:{}"),
    ("can_delete", "DAG Run:{}"),
    ("menu_access", "DAG Run:{}"),
}


def per_dag(dag_id: str) -> set[tuple[str, str]]:
    return {(a, r.format(dag_id)) for a, r in DAG_PERMS | RUN_PERMS}


# -- GET /permissions -----------------------------------------------------------------------------


def test_list_permissions(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.get("/permissions", auth=admin)
    assert response.status_code == 200
    body = ActionCollectionResponse.model_validate(response.json())
    assert {a.name for a in body.actions} == ACTIONS
    assert body.total_entries == 5


def test_list_permissions_paging(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    everything = [a["name"] for a in client.get("/permissions", auth=admin).json()["actions"]]
    page = client.get("/permissions", params={"limit": 2, "offset": 1}, auth=admin).json()
    assert page["total_entries"] == 5
    assert [a["name"] for a in page["actions"]] == everything[1:3]
    assert_problem(
        client.get("/permissions", params={"order_by": "name"}, auth=admin),
        400,
        detail="Extra query parameter(s) order_by not in spec",
    )
    assert_problem(client.get("/permissions", params={"limit": -1}, auth=admin), 400)


def test_permissions_need_admin(client: httpx.Client, accounts: Any) -> None:
    assert client.get("/permissions", auth=accounts["Op"].auth).status_code == 403
    assert client.get("/permissions").status_code == 401


# -- per-DAG permissions from access_control ------------------------------------------------------


def parse(dags: list[tuple[str, dict[str, Any] | None]], path: Path) -> None:
    """Store DAGs as the DAG processor does after parsing `path`."""
    from aerovane.authoring import DAG, EmptyOperator
    from aerovane.authoring.serialization import serialize_dag
    from aerovane.dag_processing.writer import store_parse_result

    serialized = []
    for dag_id, access_control in dags:
        dag = DAG(
            dag_id,
            schedule=None,
            start_date=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            access_control=access_control,
            auto_register=False,
        )
        EmptyOperator(task_id="only", dag=dag)
        dag.fileloc = str(path)
        serialized.append(serialize_dag(dag))
    with create_session() as session:
        store_parse_result(str(path), serialized, None, session=session)


@pytest.fixture
def dag_file(accounts: Any, tmp_path: Path) -> Path:
    path = tmp_path / "team_dags.py"
    path.write_text("# DAGs of two teams\n")
    return path


def perms_of(role: str) -> set[tuple[str, str]]:
    with create_session(readonly=True) as session:
        return set(role_permissions(role, session=session))


def import_errors() -> list[str]:
    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.ImportErrorModel.stacktrace)))


def test_parse_creates_per_dag_permissions(dag_file: Path) -> None:
    parse([("etl", None)], dag_file)
    with create_session(readonly=True) as session:
        rows = session.execute(
            select(models.Action.name, models.Resource.name)
            .select_from(models.Permission)
            .join(models.Action, models.Action.id == models.Permission.permission_id)
            .join(models.Resource, models.Resource.id == models.Permission.view_menu_id)
            .where(models.Resource.name.in_(["DAG:etl", "DAG Run:etl"]))
        ).all()
    assert {tuple(row) for row in rows} == per_dag("etl")
    for role in ("Admin", "Op", "User", "Viewer", "Public"):
        assert not perms_of(role) & per_dag("etl")


def test_access_control_limits_what_a_role_sees(client: httpx.Client, dag_file: Path) -> None:
    add_role("EtlTeam", set())
    parse([("etl", {"EtlTeam": ["can_read"]}), ("secret", None)], dag_file)
    assert perms_of("EtlTeam") == {("can_read", "DAG:etl")}
    auth = add_user("etl_member", ["EtlTeam"]).auth
    response = client.get("/dags", auth=auth)
    assert response.status_code == 200
    assert [d["dag_id"] for d in response.json()["dags"]] == ["etl"]
    assert response.json()["total_entries"] == 1
    assert client.get("/dags/etl", auth=auth).status_code == 200
    assert client.get("/dags/secret", auth=auth).status_code == 403
    assert client.patch("/dags/etl", json={"is_paused": True}, auth=auth).status_code == 403
    # Viewers still see both through the global DAGs permission.
    viewer = client.get("/dags", auth=("viewer", "Viewer-pw")).json()
    assert [d["dag_id"] for d in viewer["dags"]] == ["etl", "secret"]


def test_access_control_per_resource(client: httpx.Client, dag_file: Path) -> None:
    add_role("EtlOps", set())
    access = {"EtlOps": {"DAGs": ["can_read", "can_edit"], "DAG Runs": ["can_create"]}}
    parse([("etl", access), ("secret", None)], dag_file)
    assert perms_of("EtlOps") == {
        ("can_read", "DAG:etl"),
        ("can_edit", "DAG:etl"),
        ("can_create", "DAG Run:etl"),
    }
    auth = add_user("etl_ops", ["EtlOps"]).auth
    assert client.post("/dags/etl/dagRuns", json={}, auth=auth).status_code == 200
    assert client.post("/dags/secret/dagRuns", json={}, auth=auth).status_code == 403
    assert client.patch("/dags/etl", json={"is_paused": True}, auth=auth).status_code == 200


def test_reparse_makes_grants_match_access_control(dag_file: Path) -> None:
    add_role("TeamA", set())
    add_role("TeamB", {("can_read", "DAGs")})
    parse([("etl", {"TeamA": ["can_read", "can_edit"], "TeamB": ["can_delete"]})], dag_file)
    # Grants made by hand on the per-DAG resources: revoked unless listed, except for Admin.
    add_role("Viewer", {("can_edit", "DAG:etl")})
    add_role("Admin", {("can_delete", "DAG:etl"), ("can_create", "DAG Run:etl")})
    parse([("etl", {"TeamA": {"DAGs": ["can_read"], "DAG Runs": ["can_read"]}})], dag_file)
    assert perms_of("TeamA") == {("can_read", "DAG:etl"), ("can_read", "DAG Run:etl")}
    assert perms_of("TeamB") == {("can_read", "DAGs")}
    assert ("can_edit", "DAG:etl") not in perms_of("Viewer")
    assert {("can_delete", "DAG:etl"), ("can_create", "DAG Run:etl")} <= perms_of("Admin")
    # Without access_control the existing grants stay, as in Airflow.
    parse([("etl", None)], dag_file)
    assert perms_of("TeamA") == {("can_read", "DAG:etl"), ("can_read", "DAG Run:etl")}


def test_legacy_action_names(dag_file: Path) -> None:
    add_role("Legacy", set())
    parse([("etl", {"Legacy": ["can_dag_read", "can_dag_edit"]})], dag_file)
    assert perms_of("Legacy") == {("can_read", "DAG:etl"), ("can_edit", "DAG:etl")}


def test_role_created_later_is_granted_on_next_parse(dag_file: Path) -> None:
    parse([("etl", {"Late": ["can_read"]})], dag_file)
    assert len(import_errors()) == 1
    add_role("Late", set())
    parse([("etl", {"Late": ["can_read"]})], dag_file)
    assert perms_of("Late") == {("can_read", "DAG:etl")}
    assert import_errors() == []


@pytest.mark.parametrize(
    ("access_control", "message"),
    [
        (
            {"Ghosts": ["can_read"]},
            "The access_control mapping for DAG 'DAG:etl' includes a role named 'Ghosts', but "
            "that role does not exist",
        ),
        (
            {"Viewer": ["can_fly"]},
            "The access_control map for DAG 'DAG:etl' includes the following invalid "
            "permissions: ['can_fly']",
        ),
        (
            {"Viewer": {"DAG Runs": ["can_edit"]}},
            "The access_control map for DAG 'DAG Run:etl' includes the following invalid "
            "permissions: ['can_edit']",
        ),
        (
            {"Viewer": {"Pools": ["can_read"]}},
            "The access_control map for DAG 'DAG:etl' includes the following invalid resource "
            "name: 'Pools'",
        ),
    ],
)
def test_invalid_access_control_is_an_import_error(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    dag_file: Path,
    access_control: dict[str, Any],
    message: str,
) -> None:
    parse([("etl", access_control), ("other", None)], dag_file)
    (error,) = import_errors()
    assert message in error
    assert not perms_of("Viewer") & per_dag("etl")
    with create_session(readonly=True) as session:
        etl = session.get(models.DagModel, "etl")
        other = session.get(models.DagModel, "other")
        assert etl is not None and etl.has_import_errors
        assert other is not None and not other.has_import_errors
    # The other DAG of the file is parsed normally.
    assert client.get("/dags/other", auth=admin).status_code == 200


def test_sync_validates_before_writing(accounts: Any) -> None:
    from aerovane.auth.roles import sync_dag_permissions

    with create_session() as session:
        with pytest.raises(BadRequest, match="Nobody"):
            sync_dag_permissions("etl", {"Viewer": ["can_read"], "Nobody": []}, session=session)
        assert (
            session.scalar(select(models.Resource).where(models.Resource.name == "DAG:etl")) is None
        )
