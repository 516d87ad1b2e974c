"""`/api/v1/roles`: the default roles' permission sets, listing (paging, sorting), creating,
updating (adds permissions, never removes them, as Airflow 2 does), deleting, and who may."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api.v1.datamodels.roles import RoleCollectionResponse, RoleResponse
from aerovane.auth.permissions import ADMIN, OP, USER, VIEWER
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_role, add_user, count_queries
from tests.api.test_errors import assert_problem

ROLES = ("Admin", "Op", "User", "Viewer", "Public")


def action(name: str, resource: str) -> dict[str, Any]:
    return {"action": {"name": name}, "resource": {"name": resource}}


def pairs(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(a["action"]["name"], a["resource"]["name"]) for a in body["actions"]}


# -- default roles --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("Viewer", VIEWER), ("User", USER), ("Op", OP), ("Admin", ADMIN), ("Public", set())],
)
def test_default_role_permissions(
    client: httpx.Client, admin: httpx.BasicAuth, role: str, expected: set[tuple[str, str]]
) -> None:
    response = client.get(f"/roles/{role}", auth=admin)
    assert response.status_code == 200
    body = RoleResponse.model_validate(response.json())
    assert body.name == role
    assert pairs(response.json()) == expected
    # Sorted by resource, then action.
    listed = [(a.resource.name, a.action.name) for a in body.actions]
    assert listed == sorted(listed)


def test_default_role_sizes(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    sizes = {r["name"]: len(r["actions"]) for r in client.get("/roles", auth=admin).json()["roles"]}
    assert sizes["Viewer"] == 30
    assert sizes["User"] == 30 + 9
    assert sizes["Op"] > sizes["User"]
    assert sizes["Public"] == 0
    assert pairs(client.get("/roles/Admin", auth=admin).json()) >= {
        ("can_create", "Users"),
        ("can_delete", "Roles"),
        ("can_read", "Permissions"),
    }


# -- list -----------------------------------------------------------------------------------------


def test_list_roles(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.get("/roles", auth=admin)
    assert response.status_code == 200
    body = RoleCollectionResponse.model_validate(response.json())
    assert body.total_entries == 5
    assert [r.name for r in body.roles] == ["Admin", "Op", "Public", "User", "Viewer"]


def test_list_paging_and_sorting(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    def names(**params: Any) -> list[str]:
        response = client.get("/roles", params=params, auth=admin)
        assert response.status_code == 200, response.text
        assert response.json()["total_entries"] == 5
        return [r["name"] for r in response.json()["roles"]]

    assert names(limit=2) == ["Admin", "Op"]
    assert names(limit=2, offset=3) == ["User", "Viewer"]
    assert names(order_by="-name") == ["Viewer", "User", "Public", "Op", "Admin"]
    assert names(order_by="role_id") == ["Admin", "Op", "User", "Viewer", "Public"]
    assert names(order_by="-role_id", limit=1) == ["Public"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"order_by": "permissions"},
            "Ordering with 'permissions' is disallowed or the attribute does not exist on the "
            "model",
        ),
        ({"limit": -5}, "Page limit must be a positive integer"),
        ({"name": "Admin"}, "Extra query parameter(s) name not in spec"),
    ],
)
def test_list_bad_parameters(
    client: httpx.Client, admin: httpx.BasicAuth, params: dict[str, Any], detail: str
) -> None:
    assert_problem(client.get("/roles", params=params, auth=admin), 400, detail=detail)


def test_list_query_count_does_not_grow(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    with count_queries() as few:
        assert client.get("/roles", params={"limit": 50}, auth=admin).status_code == 200
    for i in range(10):
        add_role(f"Custom{i}", {("can_read", "DAGs"), ("can_read", f"DAG:dag{i}")})
    with count_queries() as many:
        response = client.get("/roles", params={"limit": 50}, auth=admin)
    assert len(response.json()["roles"]) == 15
    assert len(many) == len(few)


def test_get_unknown_role(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.get("/roles/Nope", auth=admin),
        404,
        title="Role not found",
        detail="Role with name 'Nope' was not found",
    )


# -- create ---------------------------------------------------------------------------------------


def test_create_role(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = {
        "name": "Auditor",
        "actions": [action("can_read", "Audit Logs"), {}, action("can_read", "DAGs")],
    }
    response = client.post("/roles", json=body, auth=admin)
    assert response.status_code == 200, response.text
    RoleResponse.model_validate(response.json())
    assert response.json() == {
        "name": "Auditor",
        "actions": [action("can_read", "Audit Logs"), action("can_read", "DAGs")],
    }
    assert client.get("/roles/Auditor", auth=admin).json() == response.json()
    # The role works at once.
    auth = add_user("auditor", ["Auditor"]).auth
    assert client.get("/dags", auth=auth).status_code == 200


def test_create_role_without_actions(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.post("/roles", json={"name": "Empty"}, auth=admin)
    assert response.status_code == 200
    assert response.json() == {"name": "Empty", "actions": []}


def test_create_role_with_a_new_pair(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    """An existing action on an existing resource need not have been paired before."""
    response = client.post(
        "/roles", json={"name": "Odd", "actions": [action("can_delete", "Website")]}, auth=admin
    )
    assert response.status_code == 200, response.text
    assert pairs(response.json()) == {("can_delete", "Website")}


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (
            {"name": "X", "actions": [action("can_fly", "DAGs")]},
            400,
            "The specified action: 'can_fly' was not found",
        ),
        (
            {"name": "X", "actions": [action("can_read", "DAGs"), action("can_read", "Moon")]},
            400,
            "The specified resource: 'Moon' was not found",
        ),
        ({"name": ""}, 400, "String should have at least 1 character - 'name'"),
        ({"name": "x" * 65}, 400, "Role name must be at most 64 characters"),
        ({"actions": []}, 400, "Field required - 'name'"),
        (
            {"name": "X", "actions": [{"action": {"name": "can_read"}}]},
            400,
            "Field required - 'actions.0.resource'",
        ),
        ({"name": "X", "permissions": []}, 400, "Extra inputs are not permitted - 'permissions'"),
        (
            {"name": "Viewer"},
            409,
            "Role with name 'Viewer' already exists; please update with the PATCH endpoint",
        ),
    ],
)
def test_create_invalid(
    client: httpx.Client, admin: httpx.BasicAuth, body: dict[str, Any], status: int, detail: str
) -> None:
    assert_problem(client.post("/roles", json=body, auth=admin), status, detail=detail)
    assert client.get("/roles/X", auth=admin).status_code == 404


def test_create_is_audited(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    client.post("/roles", json={"name": "Audited"}, auth=admin)
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog)))
    assert [(r.event, r.owner) for r in rows] == [("api.post_role", "admin")]


# -- update ---------------------------------------------------------------------------------------


@pytest.fixture
def custom(client: httpx.Client, admin: httpx.BasicAuth) -> str:
    body = {"name": "Custom", "actions": [action("can_read", "DAGs")]}
    assert client.post("/roles", json=body, auth=admin).status_code == 200
    return "Custom"


def test_patch_adds_permissions(client: httpx.Client, admin: httpx.BasicAuth, custom: str) -> None:
    body = {"name": "Custom", "actions": [action("can_edit", "DAGs"), action("can_read", "Pools")]}
    response = client.patch("/roles/Custom", json=body, auth=admin)
    assert response.status_code == 200, response.text
    # Airflow 2 (FAB's bulk_sync_roles) only ever adds: can_read DAGs stays.
    assert pairs(response.json()) == {
        ("can_read", "DAGs"),
        ("can_edit", "DAGs"),
        ("can_read", "Pools"),
    }


def test_patch_rename(client: httpx.Client, admin: httpx.BasicAuth, custom: str) -> None:
    add_user("member", ["Custom"])
    response = client.patch("/roles/Custom", json={"name": "Renamed"}, auth=admin)
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert pairs(response.json()) == {("can_read", "DAGs")}
    assert client.get("/roles/Custom", auth=admin).status_code == 404
    assert client.get("/users/member", auth=admin).json()["roles"] == [{"name": "Renamed"}]


def test_patch_with_update_mask(client: httpx.Client, admin: httpx.BasicAuth, custom: str) -> None:
    body = {"name": "Ignored", "actions": [action("can_edit", "DAGs")]}
    response = client.patch(
        "/roles/Custom", params={"update_mask": "actions"}, json=body, auth=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Custom"
    assert pairs(response.json()) == {("can_read", "DAGs"), ("can_edit", "DAGs")}
    response = client.patch(
        "/roles/Custom", params={"update_mask": "name"}, json={"name": "Only"}, auth=admin
    )
    assert response.json()["name"] == "Only"


@pytest.mark.parametrize(
    ("mask", "body", "status", "detail"),
    [
        ("actions", {"name": "X"}, 400, "'actions' in update_mask is unknown"),
        ("colour", {"name": "X"}, 400, "'colour' in update_mask is unknown"),
        (
            None,
            {"actions": [action("can_fly", "DAGs")]},
            400,
            "The specified action: 'can_fly' was not found",
        ),
        (None, {"name": "Viewer"}, 409, "Role with name 'Viewer' already exists"),
        (None, {"name": None}, 400, "Field may not be null. - 'name'"),
    ],
)
def test_patch_invalid(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    custom: str,
    mask: str | None,
    body: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    params = {"update_mask": mask} if mask else {}
    response = client.patch("/roles/Custom", params=params, json=body, auth=admin)
    assert_problem(response, status, detail=detail)
    assert pairs(client.get("/roles/Custom", auth=admin).json()) == {("can_read", "DAGs")}


def test_patch_unknown_role(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.patch("/roles/Nope", json={"name": "x"}, auth=admin),
        404,
        title="Role not found",
        detail="Role with name 'Nope' was not found",
    )


def test_admin_role_can_be_edited(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    """As in Airflow, nothing protects the default roles from edits."""
    response = client.patch(
        "/roles/Admin", json={"actions": [action("can_read", "DAGs")]}, auth=admin
    )
    assert response.status_code == 200
    assert pairs(response.json()) == ADMIN


# -- delete ---------------------------------------------------------------------------------------


def test_delete_role(client: httpx.Client, admin: httpx.BasicAuth, custom: str) -> None:
    member = add_user("member", ["Custom", "Viewer"])
    response = client.delete("/roles/Custom", auth=admin)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/roles/Custom", auth=admin).status_code == 404
    assert client.get("/users/member", auth=admin).json()["roles"] == [{"name": "Viewer"}]
    assert client.get("/dags", auth=member.auth).status_code == 200
    assert_problem(
        client.delete("/roles/Custom", auth=admin),
        404,
        detail="Role with name 'Custom' was not found",
    )


# -- who may --------------------------------------------------------------------------------------

_counter = 0


def _call(client: httpx.Client, operation: str, auth: Any) -> httpx.Response:
    global _counter
    _counter += 1
    if operation == "get_roles":
        return client.get("/roles", auth=auth)
    if operation == "get_role":
        return client.get("/roles/Viewer", auth=auth)
    if operation == "post_role":
        return client.post("/roles", json={"name": f"R{_counter}"}, auth=auth)
    if operation == "patch_role":
        return client.patch("/roles/Public", json={"actions": []}, auth=auth)
    if operation == "delete_role":
        add_role(f"Doomed{_counter}", set())
        return client.delete(f"/roles/Doomed{_counter}", auth=auth)
    if operation == "get_permissions":
        return client.get("/permissions", auth=auth)
    raise AssertionError(operation)


OPERATIONS = ("get_roles", "get_role", "post_role", "patch_role", "delete_role", "get_permissions")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_only_admin_manages_roles(
    client: httpx.Client, accounts: Any, operation: str, role: str
) -> None:
    response = _call(client, operation, accounts[role].auth)
    if role == "Admin":
        assert response.status_code in (200, 204), response.text
    else:
        assert_problem(response, 403, title="Forbidden")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_anonymous_is_401(client: httpx.Client, accounts: Any, operation: str) -> None:
    assert_problem(_call(client, operation, None), 401, title="Unauthorized")
