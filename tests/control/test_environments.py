"""GET environments (v1 and v1beta1), list with paging, errors in Google's shape, and who may do
what (project roles, Aerovane Admin users)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.control.conftest import (
    ADMIN_ROLE,
    ENV,
    LOCATION,
    PROJECT,
    USER_ROLE,
    VIEWER_ROLE,
    Account,
    Control,
    add_user,
)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


def assert_google_error(response: httpx.Response, code: int, status: str) -> str:
    assert response.status_code == code, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    return body["error"]["message"]


def test_describe_shape(control: Control, server_url: str) -> None:
    from aerovane.config import get_settings

    env = control.describe()
    assert env["name"] == ENV
    uuid.UUID(env["uuid"])
    assert env["state"] == "RUNNING"
    assert TIMESTAMP.match(env["createTime"]) and TIMESTAMP.match(env["updateTime"])
    config = env["config"]
    assert config["airflowUri"] == server_url
    assert config["dagGcsPrefix"] == get_settings().dags_folder.resolve().as_uri()
    assert config["dagGcsPrefix"].startswith("file:///") and config["dagGcsPrefix"].endswith(
        "/dags"
    )
    software = config["softwareConfig"]
    assert re.fullmatch(r"aerovane-\d+\.\d+\.\d+-airflow-2\.10\.5", software["imageVersion"])
    assert software["airflowConfigOverrides"] == {}
    assert software["envVariables"] == {}
    assert config["webServerNetworkAccessControl"] == {
        "allowedIpRanges": [
            {
                "value": "0.0.0.0/0",
                "description": "Allows access from all IPv4 addresses (default value)",
            },
            {
                "value": "::/0",
                "description": "Allows access from all IPv6 addresses (default value)",
            },
        ]
    }
    assert config["webServerConfig"] == {}


def test_v1beta1_serves_the_same_resource(control: Control) -> None:
    beta = control.http.get(f"/v1beta1/{ENV}")
    assert beta.status_code == 200
    assert beta.json() == control.describe()


def test_environment_is_created_once(control: Control) -> None:
    from aerovane.control.environments import ensure_default_environment

    first = control.describe()
    assert ensure_default_environment().uuid == first["uuid"]
    assert control.describe()["uuid"] == first["uuid"]


def test_project_may_be_given_by_number(control: Control) -> None:
    from aerovane.identity import project_number

    response = control.get(
        f"projects/{project_number()}/locations/{LOCATION}/environments/aerovane"
    )
    assert response.status_code == 200
    assert response.json()["name"] == ENV


def test_unknown_environment_and_location(control: Control) -> None:
    message = assert_google_error(control.get(f"{PARENT}/environments/nope"), 404, "NOT_FOUND")
    assert message == f"Environment '{PARENT}/environments/nope' not found."
    assert_google_error(
        control.get(f"projects/{PROJECT}/locations/elsewhere/environments/aerovane"),
        404,
        "NOT_FOUND",
    )
    missing_op = control.get(f"{PARENT}/operations/{uuid.uuid4()}")
    assert_google_error(missing_op, 404, "NOT_FOUND")


def _add_environment(name: str, location: str = LOCATION) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        session.add(
            models.Environment(
                project=PROJECT, location=location, name=name, uuid=str(uuid.uuid4())
            )
        )


def test_list_with_paging(control: Control) -> None:
    control.describe()  # the default environment exists first
    for name in ("second", "third"):
        _add_environment(name)
    _add_environment("far", location="eu")
    everything = control.get(f"{PARENT}/environments").json()
    assert [e["name"].rsplit("/", 1)[1] for e in everything["environments"]] == [
        "aerovane",
        "second",
        "third",
    ]
    assert "nextPageToken" not in everything
    names: list[str] = []
    params: dict[str, Any] = {"pageSize": 2}
    pages = 0
    while True:
        page = control.get(f"{PARENT}/environments", params=params).json()
        pages += 1
        names += [e["name"].rsplit("/", 1)[1] for e in page["environments"]]
        if "nextPageToken" not in page:
            break
        params["pageToken"] = page["nextPageToken"]
    assert (pages, names) == (2, ["aerovane", "second", "third"])
    every_location = control.get(f"projects/{PROJECT}/locations/-/environments").json()
    assert len(every_location["environments"]) == 4
    assert_google_error(
        control.get(f"{PARENT}/environments", params={"pageToken": "%%%"}),
        400,
        "INVALID_ARGUMENT",
    )
    assert_google_error(
        control.get(f"{PARENT}/environments", params={"pageSize": -1}), 400, "INVALID_ARGUMENT"
    )


def test_list_creates_the_default_environment_on_first_request(control: Control) -> None:
    listed = control.get(f"{PARENT}/environments").json()
    assert [e["name"] for e in listed["environments"]] == [ENV]


# -- authentication --------------------------------------------------------------------------------


def test_missing_and_bad_tokens(control_for: Callable[..., Control], admin: Account) -> None:
    anonymous = control_for(None)
    message = assert_google_error(anonymous.get(ENV), 401, "UNAUTHENTICATED")
    assert message.startswith("Request is missing required authentication credential.")
    response = control_for("not-a-token").get(ENV)
    message = assert_google_error(response, 401, "UNAUTHENTICATED")
    assert message.startswith("Request had invalid authentication credentials.")
    assert response.headers["www-authenticate"].startswith("Bearer")
    basic = httpx.get(str(anonymous.http.base_url) + f"/v1/{ENV}", auth=("admin", "pw"), timeout=10)
    assert_google_error(basic, 401, "UNAUTHENTICATED")


def test_id_token_is_not_an_access_token(
    control_for: Callable[..., Control], admin: Account
) -> None:
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    credentials = service_account.IDTokenCredentials.from_service_account_file(
        str(admin.key_path), target_audience="https://composer.googleapis.com"
    )
    credentials.refresh(Request())
    assert_google_error(control_for(credentials.token).get(ENV), 401, "UNAUTHENTICATED")


def test_disabled_account_is_refused_at_once(
    control_for: Callable[..., Control], admin: Account
) -> None:
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    control = control_for(admin)
    assert control.get(ENV).status_code == 200
    with create_session() as session:
        sa.set_disabled(admin.email, True, session=session)
    assert_google_error(control.get(ENV), 401, "UNAUTHENTICATED")


# -- authorization ---------------------------------------------------------------------------------

OPERATIONS = ("get", "list", "get_operation", "update", "execute")
ALLOWED = {
    ADMIN_ROLE: set(OPERATIONS),
    "roles/editor": set(OPERATIONS),
    USER_ROLE: {"get", "list", "get_operation", "execute"},
    VIEWER_ROLE: {"get", "list", "get_operation"},
    "roles/viewer": {"get", "list", "get_operation"},
    None: set(),
}
PERMISSIONS = {
    "get": "composer.environments.get",
    "list": "composer.environments.list",
    "get_operation": "composer.operations.get",
    "update": "composer.environments.update",
    "execute": "composer.environments.executeAirflowCommand",
}


def _call(client: Control, operation: str, operation_name: str) -> httpx.Response:
    if operation == "get":
        return client.get(ENV)
    if operation == "list":
        return client.get(f"{PARENT}/environments")
    if operation == "get_operation":
        return client.get(operation_name)
    if operation == "update":
        return client.patch("config.softwareConfig.envVariables", {})
    return client.post("executeAirflowCommand", {"command": "version"})


@pytest.mark.parametrize("role", list(ALLOWED), ids=lambda r: r or "no-role")
def test_permissions_per_role(
    role: str | None,
    control: Control,
    make_account: Callable[..., Account],
    control_for: Callable[..., Control],
) -> None:
    operation = control.patch("config.softwareConfig.envVariables", {}).json()
    caller = control_for(make_account("the-caller", role))
    for name in OPERATIONS:
        response = _call(caller, name, operation["name"])
        if name in ALLOWED[role]:
            assert response.status_code == 200, (name, response.text)
        else:
            message = assert_google_error(response, 403, "PERMISSION_DENIED")
            assert message.startswith(f"Permission '{PERMISSIONS[name]}' denied on resource")
            assert message.endswith("(or it may not exist).")


SECRET_OVERRIDES = {"proxy-oidc_client_secret": "oidc-secret-value-1"}
SECRET_VARIABLES = {
    "AIRFLOW_CONN_WAREHOUSE": "postgresql://etl:conn-password-2@db/warehouse",
    "SLACK_API_KEY": "slack-key-value-3",
    "DB_PASSWORD": "db-password-value-4",
}
PLAIN_OVERRIDES = {"api-maximum_page_limit": "50"}
PLAIN_VARIABLES = {"REGION": "eu-west-7"}


@pytest.mark.parametrize("role", [VIEWER_ROLE, "roles/viewer", USER_ROLE, ADMIN_ROLE])
def test_secret_overrides_and_variables_are_hidden_without_update(
    role: str,
    control: Control,
    make_account: Callable[..., Account],
    control_for: Callable[..., Control],
) -> None:
    software = {
        "airflowConfigOverrides": {**SECRET_OVERRIDES, **PLAIN_OVERRIDES},
        "envVariables": {**SECRET_VARIABLES, **PLAIN_VARIABLES},
    }
    masks = ("config.softwareConfig.airflowConfigOverrides", "config.softwareConfig.envVariables")
    for mask in masks:
        updated = control.patch(mask, {"config": {"softwareConfig": software}})
        assert updated.status_code == 200, updated.text
    # Whoever may update sees (and can round-trip) what they set, in the operation too.
    stored = updated.json()["response"]["config"]["softwareConfig"]
    assert stored["envVariables"] == software["envVariables"]
    caller = control_for(make_account("the-caller", role))
    responses = {
        "get": caller.get(ENV),
        "list": caller.get(f"{PARENT}/environments"),
        "get_operation": caller.get(updated.json()["name"]),
    }
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        environment = {
            "get": lambda: body,
            "list": lambda: body["environments"][0],
            "get_operation": lambda: body["response"],
        }[name]()
        shown = environment["config"]["softwareConfig"]
        if role == ADMIN_ROLE:
            assert shown["airflowConfigOverrides"] == software["airflowConfigOverrides"]
            assert shown["envVariables"] == software["envVariables"]
            continue
        assert shown["airflowConfigOverrides"] == {
            **dict.fromkeys(SECRET_OVERRIDES, "< hidden >"),
            **PLAIN_OVERRIDES,
        }
        assert shown["envVariables"] == {
            **dict.fromkeys(SECRET_VARIABLES, "< hidden >"),
            **PLAIN_VARIABLES,
        }
        for secret in [*SECRET_OVERRIDES.values(), *SECRET_VARIABLES.values()]:
            assert secret not in response.text, name


def test_a_role_on_another_project_grants_nothing(
    make_account: Callable[..., Account], control_for: Callable[..., Control]
) -> None:
    from aerovane.control.access import add_project_binding
    from aerovane.db.engine import create_session

    account = make_account("other-project")
    with create_session() as session:
        add_project_binding("elsewhere", member=account.member, role=ADMIN_ROLE, session=session)
    assert_google_error(control_for(account).get(ENV), 403, "PERMISSION_DENIED")


def _user_access_token(server_url: str, username: str, password: str) -> str:
    refresh = httpx.post(
        f"{server_url}/token",
        data={"grant_type": "password", "username": username, "password": password},
    ).json()["refresh_token"]
    response = httpx.post(
        f"{server_url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        },
    )
    return str(response.json()["access_token"])


def test_aerovane_admin_users_are_composer_admins(
    server_url: str, control_for: Callable[..., Control]
) -> None:
    add_user("alice", ["Admin"], password="alice-pw")
    add_user("olive", ["Op"], password="olive-pw")
    alice = control_for(_user_access_token(server_url, "alice", "alice-pw"))
    assert alice.get(ENV).status_code == 200
    assert alice.patch("config.softwareConfig.envVariables", {}).status_code == 200
    olive = control_for(_user_access_token(server_url, "olive", "olive-pw"))
    assert_google_error(olive.get(ENV), 403, "PERMISSION_DENIED")
    from aerovane.control.access import add_project_binding
    from aerovane.db.engine import create_session

    with create_session() as session:
        add_project_binding(
            PROJECT, member="user:olive@example.com", role=VIEWER_ROLE, session=session
        )
    assert olive.get(ENV).status_code == 200
    assert_google_error(
        olive.patch("config.softwareConfig.envVariables", {}), 403, "PERMISSION_DENIED"
    )


def test_methods_not_offered_answer_in_googles_shape(control: Control) -> None:
    message = assert_google_error(control.http.delete(f"/v1/{ENV}"), 501, "UNIMPLEMENTED")
    assert message == f"DELETE /v1/{ENV} is not implemented by this control plane."
    assert_google_error(control.post("restartWebServer", {}), 501, "UNIMPLEMENTED")
    assert_google_error(
        control.http.post(f"/v1/{PARENT}/environments", json={}), 501, "UNIMPLEMENTED"
    )
    assert_google_error(control.http.get("/v1beta1/nothing"), 404, "NOT_FOUND")
