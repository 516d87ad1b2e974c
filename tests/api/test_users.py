"""`/api/v1/users`: list (paging, sorting), create, get, update (update_mask, passwords, roles)
and delete, with Airflow's error bodies and the default roles' access (Admin only)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api.v1.datamodels.users import UserCollectionResponse, UserResponse
from aerovane.auth.passwords import verify_password
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_user, count_queries
from tests.api.test_errors import assert_problem

GOOGLE_ID = "accounts.google.com:112233445566778899"
ROLES = ("Admin", "Op", "User", "Viewer", "Public")


def new_user(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
        "roles": [{"name": "Viewer"}],
        "password": "wonderland",
    }
    body.update(overrides)
    return body


def stored_user(username: str) -> models.User:
    with create_session(readonly=True) as session:
        user = session.scalar(select(models.User).where(models.User.username == username))
        assert user is not None
        return user


def events(name: str) -> list[models.EventLog]:
    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.EventLog).where(models.EventLog.event == name)))


# -- list -----------------------------------------------------------------------------------------


def test_list_users(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.get("/users", auth=admin)
    assert response.status_code == 200
    body = UserCollectionResponse.model_validate(response.json())
    assert body.total_entries == 5
    assert [u.username for u in body.users] == ["admin", "op", "user", "viewer", "public"]
    first = response.json()["users"][0]
    assert set(first) == {
        "first_name",
        "last_name",
        "username",
        "email",
        "active",
        "last_login",
        "login_count",
        "fail_login_count",
        "roles",
        "created_on",
        "changed_on",
    }
    assert first["roles"] == [{"name": "Admin"}]
    assert first["active"] is True
    assert first["fail_login_count"] == 0
    assert first["created_on"].endswith("+00:00")


def test_list_paging_and_sorting(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    def names(**params: Any) -> list[str]:
        response = client.get("/users", params=params, auth=admin)
        assert response.status_code == 200, response.text
        assert response.json()["total_entries"] == 5
        return [u["username"] for u in response.json()["users"]]

    assert names(limit=2) == ["admin", "op"]
    assert names(limit=2, offset=2) == ["user", "viewer"]
    assert names(offset=4) == ["public"]
    assert names(order_by="username") == ["admin", "op", "public", "user", "viewer"]
    assert names(order_by="-username") == ["viewer", "user", "public", "op", "admin"]
    assert names(order_by="-id")[0] == "public"
    assert names(order_by="user_name", limit=1) == ["admin"]
    assert names(order_by="email", limit=1) == ["admin"]
    assert names(order_by="first_name", limit=1) == ["admin"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"order_by": "password"},
            "Ordering with 'password' is disallowed or the attribute does not exist on the model",
        ),
        ({"limit": -1}, "Page limit must be a positive integer"),
        ({"offset": -1}, "-1 is less than the minimum of 0 - 'offset'"),
        ({"colour": "red"}, "Extra query parameter(s) colour not in spec"),
    ],
)
def test_list_bad_parameters(
    client: httpx.Client, admin: httpx.BasicAuth, params: dict[str, Any], detail: str
) -> None:
    assert_problem(client.get("/users", params=params, auth=admin), 400, detail=detail)


def test_list_query_count_does_not_grow(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    with count_queries() as few:
        assert client.get("/users", params={"limit": 50}, auth=admin).status_code == 200
    for i in range(15):
        add_user(f"extra{i}", ["Viewer", "Op"])
    with count_queries() as many:
        response = client.get("/users", params={"limit": 50}, auth=admin)
    assert len(response.json()["users"]) == 20
    assert len(many) == len(few)


# -- get ------------------------------------------------------------------------------------------


def test_get_user(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    add_user(GOOGLE_ID, ["Op", "Viewer"], email="sa@project.iam.gserviceaccount.com")
    response = client.get(f"/users/{GOOGLE_ID}", auth=admin)
    assert response.status_code == 200
    body = UserResponse.model_validate(response.json())
    assert body.username == GOOGLE_ID
    assert body.email == "sa@project.iam.gserviceaccount.com"
    assert [r.name for r in body.roles] == ["Op", "Viewer"]
    assert "password" not in response.json()


def test_get_unknown_user(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.get("/users/ghost", auth=admin),
        404,
        title="User not found",
        detail="The User with username `ghost` was not found",
    )


# -- create ---------------------------------------------------------------------------------------


def test_create_user(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.post("/users", json=new_user(roles=[{"name": "Op"}]), auth=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    UserResponse.model_validate(body)
    assert body["username"] == "alice"
    assert body["roles"] == [{"name": "Op"}]
    assert body["active"] is True
    assert "password" not in body
    stored = stored_user("alice")
    assert stored.password is not None and stored.password.startswith("scrypt:")
    assert verify_password(stored.password, "wonderland")
    # The new account works at once.
    assert client.get("/dags", auth=("alice", "wonderland")).status_code == 200
    signed_in = client.get("/users/alice", auth=admin).json()
    # That was a sign-in (aerovane.auth.sign_ins); nothing else about the user changed.
    assert signed_in.pop("login_count") == 1 and signed_in.pop("last_login") is not None
    assert {k: v for k, v in body.items() if k not in ("login_count", "last_login")} == signed_in


def test_create_google_style_username_and_long_email(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    email = "a" * 64 + "@" + "b" * 177 + ".example.com"
    assert len(email) == 254
    response = client.post("/users", json=new_user(username=GOOGLE_ID, email=email), auth=admin)
    assert response.status_code == 200, response.text
    assert response.json()["username"] == GOOGLE_ID
    assert response.json()["email"] == email
    assert client.get(f"/users/{GOOGLE_ID}", auth=admin).status_code == 200


def test_create_with_any_unique_string_as_email(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    """As Airflow's CLI: Cloud Composer's guide says any unique string can be the email."""
    body = new_user(username=GOOGLE_ID, email="uid-1234")
    response = client.post("/users", json=body, auth=admin)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "uid-1234"
    assert stored_user(GOOGLE_ID).email == "uid-1234"
    again = client.post("/users", json=new_user(username="bob", email="UID-1234"), auth=admin)
    assert again.status_code == 409, again.text


def test_create_without_roles_gets_public(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = new_user()
    del body["roles"]
    response = client.post("/users", json=body, auth=admin)
    assert response.json()["roles"] == [{"name": "Public"}]
    response = client.post(
        "/users", json=new_user(username="bob", email="b@x.io", roles=[]), auth=admin
    )
    assert response.json()["roles"] == [{"name": "Public"}]


def test_create_without_password_cannot_use_basic_auth(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    body = new_user()
    del body["password"]
    assert client.post("/users", json=body, auth=admin).status_code == 200
    assert stored_user("alice").password is None
    assert client.get("/dags", auth=("alice", "")).status_code == 401


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"email": "a" * 250 + "@x.io"}, "email must be at most 254 characters"),
        ({"email": " "}, "email must not be empty"),
        ({"email": ""}, "String should have at least 1 character - 'email'"),
        ({"username": ""}, "String should have at least 1 character - 'username'"),
        ({"username": " padded"}, "username must not start or end with whitespace"),
        ({"username": "x" * 513}, "username must be at most 512 characters"),
        ({"first_name": "x" * 257}, "first_name must be at most 256 characters"),
        (
            {"roles": [{"name": "Nope"}, {"name": "Op"}, {"name": "Gone"}]},
            "Unknown roles: 'Nope', 'Gone'",
        ),
        ({"password": None}, "Field may not be null. - 'password'"),
        ({"roles": None}, "Field may not be null. - 'roles'"),
        ({"roles": [{"name": "Op", "id": 1}]}, "Extra inputs are not permitted - 'roles.0.id'"),
        ({"active": False}, "Extra inputs are not permitted - 'active'"),
        ({"fail_login_count": 3}, "Extra inputs are not permitted - 'fail_login_count'"),
        ({"password": ""}, "password must not be empty"),
    ],
)
def test_create_invalid(
    client: httpx.Client, admin: httpx.BasicAuth, overrides: dict[str, Any], detail: str
) -> None:
    response = client.post("/users", json=new_user(**overrides), auth=admin)
    assert_problem(response, 400, title="Bad Request", detail=detail)
    with create_session(readonly=True) as session:
        assert len(list(session.scalars(select(models.User.id)))) == 5


@pytest.mark.parametrize("missing", ["username", "email", "first_name", "last_name"])
def test_create_missing_required(
    client: httpx.Client, admin: httpx.BasicAuth, missing: str
) -> None:
    body = new_user()
    del body[missing]
    assert_problem(
        client.post("/users", json=body, auth=admin), 400, detail=f"Field required - '{missing}'"
    )


def test_create_without_body(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(client.post("/users", auth=admin), 400, detail="Request body must not be empty")


def test_create_duplicates_are_409(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert client.post("/users", json=new_user(), auth=admin).status_code == 200
    assert_problem(
        client.post("/users", json=new_user(email="other@example.com"), auth=admin),
        409,
        title="Conflict",
        detail="Username `alice` already exists. Use PATCH to update.",
    )
    assert_problem(
        client.post(
            "/users", json=new_user(username="alice2", email="ALICE@example.com"), auth=admin
        ),
        409,
        detail="The email `ALICE@example.com` is already taken.",
    )
    # Conflicts are reported before unknown roles, as in Airflow.
    assert_problem(client.post("/users", json=new_user(roles=[{"name": "Nope"}]), auth=admin), 409)


def test_create_is_audited_without_the_password(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    assert client.post("/users", json=new_user(), auth=admin).status_code == 200
    (row,) = events("api.post_user")
    assert row.owner == "admin"
    extra = json.loads(row.extra or "{}")
    assert extra["username"] == "alice"
    assert extra["password"] == "***"
    assert "wonderland" not in (row.extra or "")


# -- update ---------------------------------------------------------------------------------------


@pytest.fixture
def alice(client: httpx.Client, admin: httpx.BasicAuth) -> dict[str, Any]:
    response = client.post("/users", json=new_user(), auth=admin)
    assert response.status_code == 200
    return response.json()


def test_patch_whole_body(client: httpx.Client, admin: httpx.BasicAuth, alice: Any) -> None:
    body = new_user(first_name="Alicia", last_name="L.", roles=[{"name": "User"}])
    del body["password"]
    response = client.patch("/users/alice", json=body, auth=admin)
    assert response.status_code == 200, response.text
    UserResponse.model_validate(response.json())
    assert response.json()["first_name"] == "Alicia"
    assert response.json()["last_name"] == "L."
    assert response.json()["roles"] == [{"name": "User"}]
    assert client.get("/users/alice", auth=admin).json()["first_name"] == "Alicia"


def test_patch_with_update_mask(client: httpx.Client, admin: httpx.BasicAuth, alice: Any) -> None:
    body = {"first_name": "Alicia", "last_name": "Changed", "roles": [{"name": "Op"}]}
    response = client.patch(
        "/users/alice", params={"update_mask": "first_name,roles"}, json=body, auth=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Alicia"
    assert response.json()["last_name"] == "Liddell"
    assert response.json()["roles"] == [{"name": "Op"}]
    # The mask also comes as repeated parameters.
    response = client.patch(
        "/users/alice?update_mask=last_name&update_mask=first_name",
        json={"first_name": "A", "last_name": "B"},
        auth=admin,
    )
    assert (response.json()["first_name"], response.json()["last_name"]) == ("A", "B")


@pytest.mark.parametrize(
    ("mask", "body", "detail"),
    [
        ("last_name", {"first_name": "x"}, "Unknown update masks: 'last_name'"),
        ("active,bogus", {"first_name": "x"}, "Unknown update masks: 'active', 'bogus'"),
    ],
)
def test_patch_bad_update_mask(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    alice: Any,
    mask: str,
    body: dict[str, Any],
    detail: str,
) -> None:
    response = client.patch("/users/alice", params={"update_mask": mask}, json=body, auth=admin)
    assert_problem(response, 400, detail=detail)
    assert stored_user("alice").first_name == "Alice"


def test_patch_rename_and_email(client: httpx.Client, admin: httpx.BasicAuth, alice: Any) -> None:
    response = client.patch(
        "/users/alice", json={"username": GOOGLE_ID, "email": "Alice@Example.com"}, auth=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["username"] == GOOGLE_ID
    assert response.json()["email"] == "Alice@Example.com"
    assert client.get("/users/alice", auth=admin).status_code == 404
    assert client.get(f"/users/{GOOGLE_ID}", auth=admin).status_code == 200


def test_patch_conflicts(client: httpx.Client, admin: httpx.BasicAuth, alice: Any) -> None:
    assert_problem(
        client.patch("/users/alice", json={"username": "viewer"}, auth=admin),
        409,
        detail="The username `viewer` already exists",
    )
    assert_problem(
        client.patch("/users/alice", json={"email": "VIEWER@example.com"}, auth=admin),
        409,
        detail="The email `VIEWER@example.com` already exists",
    )
    assert stored_user("alice").email == "alice@example.com"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"roles": [{"name": "Nope"}]}, "Unknown roles: 'Nope'"),
        ({"email": "bro\nken"}, "email must not contain control characters"),
        ({"email": None}, "Field may not be null. - 'email'"),
        ({"username": ""}, "String should have at least 1 character - 'username'"),
        ({"login_count": 3}, "Extra inputs are not permitted - 'login_count'"),
    ],
)
def test_patch_invalid(
    client: httpx.Client, admin: httpx.BasicAuth, alice: Any, body: dict[str, Any], detail: str
) -> None:
    assert_problem(client.patch("/users/alice", json=body, auth=admin), 400, detail=detail)


def test_patch_unknown_user(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.patch("/users/ghost", json={"first_name": "x"}, auth=admin),
        404,
        title="User not found",
        detail="The User with username `ghost` was not found",
    )


def test_password_change_invalidates_cached_basic_auth(
    client: httpx.Client, admin: httpx.BasicAuth, alice: Any
) -> None:
    old = ("alice", "wonderland")
    # Two successful checks: the second is served from the verification cache.
    assert client.get("/dags", auth=old).status_code == 200
    assert client.get("/dags", auth=old).status_code == 200
    response = client.patch(
        "/users/alice",
        params={"update_mask": "password"},
        json={"password": "looking-glass"},
        auth=admin,
    )
    assert response.status_code == 200, response.text
    assert "password" not in response.json()
    assert client.get("/dags", auth=old).status_code == 401
    assert client.get("/dags", auth=("alice", "looking-glass")).status_code == 200
    (row,) = events("api.patch_user")
    assert "looking-glass" not in (row.extra or "")


def test_role_change_applies_immediately(
    client: httpx.Client, admin: httpx.BasicAuth, alice: Any
) -> None:
    assert client.get("/users", auth=("alice", "wonderland")).status_code == 403
    client.patch("/users/alice", json={"roles": [{"name": "Admin"}]}, auth=admin)
    assert client.get("/users", auth=("alice", "wonderland")).status_code == 200


# -- delete ---------------------------------------------------------------------------------------


def test_delete_user(client: httpx.Client, admin: httpx.BasicAuth, alice: Any) -> None:
    assert client.get("/dags", auth=("alice", "wonderland")).status_code == 200
    alice_id = stored_user("alice").id
    response = client.delete("/users/alice", auth=admin)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/users/alice", auth=admin).status_code == 404
    assert client.get("/dags", auth=("alice", "wonderland")).status_code == 401
    with create_session(readonly=True) as session:
        assert (
            session.scalar(select(models.UserRole).where(models.UserRole.user_id == alice_id))
            is None
        )
    assert [e.owner for e in events("api.delete_user")] == ["admin"]
    assert_problem(
        client.delete("/users/alice", auth=admin),
        404,
        title="User not found",
        detail="The User with username `alice` was not found",
    )


# -- who may --------------------------------------------------------------------------------------

_counter = 0


def _call(client: httpx.Client, operation: str, auth: Any) -> httpx.Response:
    global _counter
    _counter += 1
    if operation == "get_users":
        return client.get("/users", auth=auth)
    if operation == "get_user":
        return client.get("/users/viewer", auth=auth)
    if operation == "post_user":
        name = f"made{_counter}"
        return client.post("/users", json=new_user(username=name, email=f"{name}@x.io"), auth=auth)
    if operation == "patch_user":
        return client.patch("/users/public", json={"first_name": "P"}, auth=auth)
    if operation == "delete_user":
        add_user(f"victim{_counter}", ["Viewer"])
        return client.delete(f"/users/victim{_counter}", auth=auth)
    raise AssertionError(operation)


OPERATIONS = ("get_users", "get_user", "post_user", "patch_user", "delete_user")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_only_admin_manages_users(
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


def test_custom_role_with_users_read(client: httpx.Client, accounts: Any) -> None:
    from tests.api.conftest import add_role

    add_role("UserAuditor", {("can_read", "Users")})
    auth = add_user("auditor", ["UserAuditor"]).auth
    assert client.get("/users", auth=auth).status_code == 200
    assert client.get("/users/admin", auth=auth).status_code == 200
    assert_problem(client.post("/users", json=new_user(), auth=auth), 403)
    assert_problem(client.get("/roles", auth=auth), 403)
