"""`/variables`: create (an upsert, as in Airflow), get, list, update (with update masks),
delete; values encrypted at rest and masked for sensitive keys, also in the audit log; who may
call what."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api.v1.datamodels.variables import VariableCollectionResponse, VariableResponse
from aerovane.db import models
from aerovane.db.crypto import decrypt
from aerovane.db.engine import create_session
from aerovane.db.secrets import get_variable
from tests.api.test_errors import assert_problem


def _create(client: httpx.Client, auth: Any, key: str = "my_var", **fields: Any) -> httpx.Response:
    return client.post("/variables", json={"key": key, "value": "v", **fields}, auth=auth)


def _row(key: str) -> models.Variable:
    with create_session(readonly=True) as session:
        row = session.scalar(select(models.Variable).where(models.Variable.key == key))
        assert row is not None
        session.expunge(row)
        return row


# -- create, get -----------------------------------------------------------------------------------


def test_create_and_get(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = _create(client, admin, value='{"a": 1}', description="JSON config")
    assert response.status_code == 200, response.text
    body = VariableResponse.model_validate(response.json())
    assert body == VariableResponse(key="my_var", value='{"a": 1}', description="JSON config")
    got = client.get("/variables/my_var", auth=admin)
    assert got.status_code == 200
    assert got.json() == response.json()
    row = _row("my_var")
    assert row.is_encrypted and row.val != '{"a": 1}'
    assert decrypt(row.val or "", True) == '{"a": 1}'
    # What task code sees (`var.value`) is the same value.
    assert get_variable("my_var") == '{"a": 1}'


def test_create_is_an_upsert(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, value="one", description="first").status_code == 200
    row_id = _row("my_var").id
    response = _create(client, admin, value="two")
    assert response.status_code == 200
    assert response.json() == {"key": "my_var", "value": "two", "description": None}
    assert _row("my_var").id == row_id
    assert client.get("/variables", auth=admin).json()["total_entries"] == 1


def test_keys_may_hold_slashes_and_odd_characters(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    for key in ("team/etl/bucket", "with space", "ünïcode"):
        assert _create(client, admin, key=key).status_code == 200
        got = client.get(f"/variables/{key}", auth=admin)
        assert got.status_code == 200, (key, got.text)
        assert got.json()["key"] == key


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"value": "v"}, "'key'"),
        ({"key": "k"}, "'value'"),
        ({"key": "k", "value": None}, "'value'"),
        ({"key": "k", "value": 5}, "'value'"),
        ({"key": "k", "value": "v", "colour": "red"}, "'colour'"),
        ({"key": "", "value": "v"}, "must not be empty"),
        ({"key": "k" * 251, "value": "v"}, "less than 250 characters"),
    ],
)
def test_create_rejects_bad_bodies(
    client: httpx.Client, admin: httpx.BasicAuth, payload: dict[str, Any], fragment: str
) -> None:
    body = assert_problem(client.post("/variables", json=payload, auth=admin), 400)
    assert fragment in body["detail"]


def test_long_key_is_fine(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, key="k" * 250).status_code == 200


def test_get_missing(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.get("/variables/nope", auth=admin),
        404,
        title="Variable not found",
        detail="Variable does not exist",
    )


# -- masking ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["db_password", "API_KEY", "slack_token", "my-secret", "passwd"])
def test_sensitive_values_are_masked(
    client: httpx.Client, admin: httpx.BasicAuth, key: str
) -> None:
    response = _create(client, admin, key=key, value="s3cr3t")
    assert response.json() == {"key": key, "value": "***", "description": None}
    assert client.get(f"/variables/{key}", auth=admin).json()["value"] == "***"
    listed = client.get("/variables", auth=admin).json()["variables"]
    assert listed == [{"key": key, "value": "***", "description": None}]
    patched = client.patch(f"/variables/{key}", json={"key": key, "value": "n3w"}, auth=admin)
    assert patched.json()["value"] == "***"
    # Masked in responses only: the stored value is the real one.
    assert get_variable(key) == "n3w"


def test_audit_rows_hide_sensitive_values(client: httpx.Client, accounts: Any) -> None:
    op = accounts["Op"].auth
    assert _create(client, op, key="plain", value="visible").status_code == 200
    assert _create(client, op, key="aws_secret", value="s3cr3t").status_code == 200
    client.patch("/variables/aws_secret", json={"key": "aws_secret", "value": "n3w"}, auth=op)
    # A body without a key is refused, but it was audited first: its value is hidden too.
    client.patch("/variables/aws_secret", json={"value": "l3ak"}, auth=op)
    client.delete("/variables/plain", auth=op)
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog).order_by(models.EventLog.id)))
    assert [(r.event, r.owner) for r in rows] == [
        ("api.variable.create", "op"),
        ("api.variable.create", "op"),
        ("api.variable.edit", "op"),
        ("api.variable.edit", "op"),
        ("api.variable.delete", "op"),
    ]
    text = " ".join(r.extra or "" for r in rows)
    assert "s3cr3t" not in text and "n3w" not in text and "l3ak" not in text
    assert json.loads(rows[0].extra or "")["value"] == "visible"


# -- list ------------------------------------------------------------------------------------------


@pytest.fixture
def three(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    for key, value in (("b_var", "2"), ("c_var", "1"), ("a_var", "3")):
        assert _create(client, admin, key=key, value=value).status_code == 200


def _keys(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [v["key"] for v in response.json()["variables"]]


def test_list(client: httpx.Client, admin: httpx.BasicAuth, three: None) -> None:
    response = client.get("/variables", auth=admin)
    body = VariableCollectionResponse.model_validate(response.json())
    assert body.total_entries == 3
    assert response.json()["variables"][0] == {"key": "b_var", "value": "2", "description": None}
    assert _keys(response) == ["b_var", "c_var", "a_var"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("key", ["a_var", "b_var", "c_var"]),
        ("-key", ["c_var", "b_var", "a_var"]),
        ("-id", ["a_var", "c_var", "b_var"]),
    ],
)
def test_list_order_by(
    client: httpx.Client, admin: httpx.BasicAuth, three: None, order_by: str, expected: list[str]
) -> None:
    assert _keys(client.get("/variables", params={"order_by": order_by}, auth=admin)) == expected


def test_list_order_by_value_is_allowed(
    client: httpx.Client, admin: httpx.BasicAuth, three: None
) -> None:
    # Values are encrypted, so the order is that of the stored text; it is accepted all the same.
    assert len(_keys(client.get("/variables", params={"order_by": "value"}, auth=admin))) == 3


def test_list_bad_order_and_paging(
    client: httpx.Client, admin: httpx.BasicAuth, three: None
) -> None:
    assert_problem(client.get("/variables", params={"order_by": "description"}, auth=admin), 400)
    response = client.get("/variables", params={"limit": 2, "offset": 2}, auth=admin)
    assert _keys(response) == ["a_var"]
    assert response.json()["total_entries"] == 3
    assert_problem(client.get("/variables", params={"limit": -2}, auth=admin), 400)


# -- update ----------------------------------------------------------------------------------------


def test_patch(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, description="d").status_code == 200
    response = client.patch("/variables/my_var", json={"key": "my_var", "value": "w"}, auth=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"key": "my_var", "value": "w", "description": "d"}
    response = client.patch(
        "/variables/my_var", json={"key": "my_var", "value": "w", "description": None}, auth=admin
    )
    assert response.json()["description"] is None
    assert get_variable("my_var") == "w"


def test_patch_with_update_mask(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, value="old", description="d").status_code == 200
    response = client.patch(
        "/variables/my_var",
        params={"update_mask": "description"},
        json={"key": "my_var", "value": "ignored", "description": "new"},
        auth=admin,
    )
    assert response.json() == {"key": "my_var", "value": "old", "description": "new"}
    response = client.patch(
        "/variables/my_var",
        params={"update_mask": "value"},
        json={"key": "my_var", "value": "new", "description": "ignored"},
        auth=admin,
    )
    assert response.json() == {"key": "my_var", "value": "new", "description": "new"}


@pytest.mark.parametrize(
    ("path_key", "params", "payload", "status", "expected"),
    [
        (
            "my_var",
            {},
            {"key": "other", "value": "v"},
            400,
            {"title": "Invalid post body"},
        ),
        (
            "my_var",
            {"update_mask": "key"},
            {"key": "my_var", "value": "v"},
            400,
            {"detail": "'key' is unknown or cannot be updated."},
        ),
        (
            "my_var",
            {"update_mask": "description"},
            {"key": "my_var", "value": "v"},
            400,
            {"detail": "'description' is unknown or cannot be updated."},
        ),
        ("my_var", {}, {"value": "v"}, 400, {}),
        ("nope", {}, {"key": "nope", "value": "v"}, 404, {"title": "Variable not found"}),
    ],
)
def test_patch_refusals(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    path_key: str,
    params: dict[str, str],
    payload: dict[str, Any],
    status: int,
    expected: dict[str, str],
) -> None:
    assert _create(client, admin).status_code == 200
    response = client.patch(f"/variables/{path_key}", params=params, json=payload, auth=admin)
    assert_problem(response, status, **expected)
    assert get_variable("my_var") == "v"


# -- delete ----------------------------------------------------------------------------------------


def test_delete(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, key="a/b").status_code == 200
    response = client.delete("/variables/a/b", auth=admin)
    assert response.status_code == 204 and response.content == b""
    assert_problem(client.delete("/variables/a/b", auth=admin), 404, title="Variable not found")
    assert get_variable("a/b") is None


# -- who may call what -----------------------------------------------------------------------------


def _call(client: httpx.Client, operation: str, auth: tuple[str, str]) -> httpx.Response:
    if operation == "get_variables":
        return client.get("/variables", auth=auth)
    if operation == "get_variable":
        return client.get("/variables/fixed", auth=auth)
    if operation == "post_variables":
        return client.post("/variables", json={"key": f"k_{auth[0]}", "value": "v"}, auth=auth)
    if operation == "patch_variable":
        return client.patch("/variables/fixed", json={"key": "fixed", "value": "x"}, auth=auth)
    if operation == "delete_variable":
        return client.delete("/variables/fixed", auth=auth)
    raise AssertionError(operation)


OPERATIONS = {
    "get_variables": 200,
    "get_variable": 200,
    "post_variables": 200,
    "patch_variable": 200,
    "delete_variable": 204,
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_default_roles(
    client: httpx.Client, accounts: Any, admin: httpx.BasicAuth, operation: str, role: str
) -> None:
    assert _create(client, admin, key="fixed").status_code == 200
    response = _call(client, operation, accounts[role].auth)
    expected = OPERATIONS[operation] if role in ("Admin", "Op") else 403
    assert response.status_code == expected, (operation, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"


def test_anonymous_is_401(client: httpx.Client, accounts: Any) -> None:
    assert_problem(client.get("/variables/fixed"), 401)


# -- the official client ---------------------------------------------------------------------------


def test_official_client(base_url: str, accounts: Any) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.variable_api import VariableApi
    from airflow_client.client.model.variable import Variable

    conf = client.Configuration(host=f"{base_url}/api/v1", username="op", password="Op-pw")
    with client.ApiClient(conf) as api:
        variables = VariableApi(api)
        assert variables.post_variables(Variable(key="v1", value="x", description="d")).value == "x"
        assert variables.post_variables(Variable(key="db_password", value="x")).value == "***"
        listed = variables.get_variables(order_by="key")
        assert [v.key for v in listed.variables] == ["db_password", "v1"]
        patched = variables.patch_variable(
            "v1", Variable(key="v1", value="y"), update_mask=["value"]
        )
        assert (patched.value, patched.description) == ("y", "d")
        variables.delete_variable("v1")
        assert variables.get_variables().total_entries == 1
