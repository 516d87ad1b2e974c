"""`/auth/fab/v1`: the same user, role and permission operations as `/api/v1`, with the FAB
spec's shapes, its own OpenAPI document, the same errors and the same access rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from aerovane.api.v1.datamodels.permissions import ActionCollectionResponse
from aerovane.api.v1.datamodels.roles import RoleCollectionResponse, RoleResponse
from aerovane.api.v1.datamodels.users import UserCollectionResponse, UserResponse
from tests.api.test_errors import assert_problem

OPERATIONS = {
    ("/users", "get"): "get_users",
    ("/users", "post"): "post_user",
    ("/users/{username}", "get"): "get_user",
    ("/users/{username}", "patch"): "patch_user",
    ("/users/{username}", "delete"): "delete_user",
    ("/roles", "get"): "get_roles",
    ("/roles", "post"): "post_role",
    ("/roles/{role_name}", "get"): "get_role",
    ("/roles/{role_name}", "patch"): "patch_role",
    ("/roles/{role_name}", "delete"): "delete_role",
    ("/permissions", "get"): "get_permissions",
}


@pytest.fixture
def fab(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url + "/auth/fab/v1", timeout=30) as c:
        yield c


def test_users_round_trip(fab: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = {
        "username": "accounts.google.com:112233445566778899",
        "email": "robot@project.iam.gserviceaccount.com",
        "first_name": "",
        "last_name": "",
        "roles": [{"name": "Op"}],
        "password": "s3cret",
    }
    created = fab.post("/users", json=body, auth=admin)
    assert created.status_code == 200, created.text
    UserResponse.model_validate(created.json())
    assert created.json()["fail_login_count"] == 0
    name = body["username"]
    assert fab.get(f"/users/{name}", auth=admin).json() == created.json()
    listed = fab.get("/users", params={"order_by": "-id", "limit": 1}, auth=admin)
    assert UserCollectionResponse.model_validate(listed.json()).users[0].username == name
    patched = fab.patch(
        f"/users/{name}", params={"update_mask": "last_name"}, json={"last_name": "Bot"}, auth=admin
    )
    assert patched.status_code == 200 and patched.json()["last_name"] == "Bot"
    assert fab.get("/dags", auth=(name, "s3cret")).status_code == 404  # not part of this API
    assert fab.delete(f"/users/{name}", auth=admin).status_code == 204
    assert_problem(fab.get(f"/users/{name}", auth=admin), 404, title="User not found")


def test_roles_round_trip(fab: httpx.Client, admin: httpx.BasicAuth) -> None:
    action = {"action": {"name": "can_read"}, "resource": {"name": "Users"}}
    created = fab.post("/roles", json={"name": "Auditor", "actions": [action]}, auth=admin)
    assert created.status_code == 200, created.text
    assert RoleResponse.model_validate(created.json()).name == "Auditor"
    listed = RoleCollectionResponse.model_validate(fab.get("/roles", auth=admin).json())
    assert "Auditor" in [r.name for r in listed.roles]
    renamed = fab.patch("/roles/Auditor", json={"name": "Auditors"}, auth=admin)
    assert renamed.json() == {"name": "Auditors", "actions": [action]}
    assert fab.delete("/roles/Auditors", auth=admin).status_code == 204
    assert_problem(
        fab.get("/roles/Auditors", auth=admin),
        404,
        detail="Role with name 'Auditors' was not found",
    )


def test_permissions(fab: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = ActionCollectionResponse.model_validate(fab.get("/permissions", auth=admin).json())
    assert body.total_entries == 5


def test_same_answers_as_api_v1(
    fab: httpx.Client, client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    for path in ("/users", "/users/viewer", "/roles", "/roles/Op", "/permissions?limit=2"):
        assert fab.get(path, auth=admin).json() == client.get(path, auth=admin).json()


def test_errors_and_strict_parameters(fab: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        fab.get("/users", params={"bogus": 1}, auth=admin),
        400,
        detail="Extra query parameter(s) bogus not in spec",
    )
    assert_problem(
        fab.post("/users", json={"username": "x"}, auth=admin),
        400,
        detail="Field required - 'email'; Field required - 'first_name'; "
        "Field required - 'last_name'",
    )
    unknown = assert_problem(fab.get("/nothing-here", auth=admin), 404, type="about:blank")
    assert unknown["title"] == "Not Found"
    assert_problem(fab.put("/users", auth=admin), 405, type="about:blank")


def test_authentication_and_authorization(fab: httpx.Client, accounts: Any) -> None:
    response = fab.get("/users")
    assert_problem(response, 401, title="Unauthorized")
    assert response.headers["www-authenticate"] == "Basic"
    for role in ("Op", "User", "Viewer", "Public"):
        assert_problem(fab.get("/roles", auth=accounts[role].auth), 403, title="Forbidden")
    assert fab.get("/roles", auth=accounts["Admin"].auth).status_code == 200


def test_openapi_documents(fab: httpx.Client, client: httpx.Client) -> None:
    spec = fab.get("/openapi.json").json()
    assert spec["info"]["title"] == "Flask App Builder User & Role API"
    found = {
        (path, method): op["operationId"]
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    assert found == OPERATIONS
    assert not any(op.get("deprecated") for item in spec["paths"].values() for op in item.values())
    v1 = client.get("/openapi.json").json()["paths"]
    for (path, method), operation_id in OPERATIONS.items():
        op = v1[f"/api/v1{path}"][method]
        assert op["operationId"] == operation_id
        assert op["deprecated"] is True
