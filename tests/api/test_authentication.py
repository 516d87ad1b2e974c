"""Authentication through `[api] auth_backends`: basic auth, deny_all, default, and chains
(§2 "401 versus 403"), with configuration changes taking effect without a restart."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from aerovane.auth.permissions import READ
from tests.api.conftest import add_dag, add_role, add_user
from tests.api.test_errors import assert_problem

UNAUTHENTICATED = (
    "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html"
    "#section/Errors/Unauthenticated"
)
FORBIDDEN = (
    "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html"
    "#section/Errors/PermissionDenied"
)


@pytest.fixture
def setup(accounts: Any) -> None:
    add_dag("etl")


def _basic(raw: bytes) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_401(response: httpx.Response, *, challenge: bool = True) -> None:
    assert_problem(response, 401, title="Unauthorized", type=UNAUTHENTICATED, detail=None)
    if challenge:
        assert response.headers["www-authenticate"] == "Basic"
    else:
        assert "www-authenticate" not in response.headers


def test_valid_credentials(client: httpx.Client, accounts: Any, setup: None) -> None:
    assert client.get("/dags", auth=accounts["Viewer"].auth).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer abc"},
        {"authorization": "Basic"},
        {"authorization": "Basic not-base64!"},
        _basic(b"no-colon"),
        _basic(b"viewer:wrong"),
        _basic(b"ghost:Viewer-pw"),
        _basic(b":Viewer-pw"),
    ],
)
def test_bad_credentials_are_401(
    client: httpx.Client, setup: None, headers: dict[str, str]
) -> None:
    assert_401(client.get("/dags", headers=headers))


def test_inactive_user_is_401(client: httpx.Client, setup: None) -> None:
    gone = add_user("former", ["Admin"], password="still-valid", active=False)
    assert_401(client.get("/dags", auth=gone.auth))


def test_user_without_password_cannot_use_basic_auth(client: httpx.Client, setup: None) -> None:
    from aerovane.auth.users import create_user
    from aerovane.db.engine import create_session

    with create_session() as session:
        create_user(
            username="accounts.google.com:112233445566778899",
            email="sa@project.iam.gserviceaccount.com",
            first_name="sa",
            last_name="-",
            role_names=["Admin"],
            password=None,
            session=session,
        )
    headers = _basic(b"accounts.google.com:112233445566778899:")
    assert_401(client.get("/dags", headers=headers))


def test_non_ascii_credentials(client: httpx.Client, setup: None) -> None:
    user = add_user("jürgen", ["Viewer"], password="pässwörd", email="jurgen@example.com")
    headers = _basic(f"{user.username}:{user.password}".encode())
    assert client.get("/dags", headers=headers).status_code == 200


def test_unauthenticated_endpoints(client: httpx.Client, setup: None) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/version").status_code == 200


def test_deny_all_is_401_without_challenge(
    client: httpx.Client, accounts: Any, setup: None, configure: Any
) -> None:
    configure(api__auth_backends="deny_all")
    assert_401(client.get("/dags", auth=accounts["Admin"].auth), challenge=False)
    assert client.get("/version").status_code == 200


def test_default_backend_anonymous_is_403(
    client: httpx.Client, setup: None, configure: Any
) -> None:
    configure(api__auth_backends="airflow.api.auth.backend.default")
    assert_problem(client.get("/dags"), 403, title="Forbidden", type=FORBIDDEN, detail=None)
    assert_problem(client.post("/dags/etl/dagRuns", json={}), 403)


def test_default_backend_uses_public_role(
    client: httpx.Client, setup: None, configure: Any
) -> None:
    configure(api__auth_backends="aerovane.auth.backends.default")
    add_role("Public", {(READ, "DAGs")})
    response = client.get("/dags")
    assert response.status_code == 200
    assert [d["dag_id"] for d in response.json()["dags"]] == ["etl"]
    assert client.get("/dags/etl/dagRuns").status_code == 403


def test_backends_are_tried_in_order(
    client: httpx.Client, accounts: Any, setup: None, configure: Any
) -> None:
    configure(api__auth_backends="deny_all,basic_auth")
    assert client.get("/dags", auth=accounts["Viewer"].auth).status_code == 200
    # The last backend's headers come with the 401.
    assert_401(client.get("/dags"), challenge=True)
    configure(api__auth_backends="basic_auth,deny_all")
    assert client.get("/dags", auth=accounts["Viewer"].auth).status_code == 200
    assert_401(client.get("/dags"), challenge=False)
    configure(api__auth_backends="basic_auth,default")
    assert client.get("/dags", auth=accounts["Viewer"].auth).status_code == 200
    assert_problem(client.get("/dags"), 403)
    assert_problem(client.get("/dags", auth=("viewer", "wrong")), 403)


def test_legacy_auth_backend_option(client: httpx.Client, setup: None, configure: Any) -> None:
    configure(api__auth_backend="airflow.api.auth.backend.deny_all")
    assert_401(client.get("/dags"), challenge=False)


def test_permission_changes_apply_immediately(client: httpx.Client, setup: None) -> None:
    user = add_user("newbie", ["Public"])
    assert client.get("/dags", auth=user.auth).status_code == 403
    add_role("Public", {(READ, "DAGs")})
    assert client.get("/dags", auth=user.auth).status_code == 200


def test_password_change_applies_immediately(client: httpx.Client, setup: None) -> None:
    from sqlalchemy import select

    from aerovane.auth.users import set_password
    from aerovane.db import models
    from aerovane.db.engine import create_session

    user = add_user("rotating", ["Viewer"], password="old-password")
    assert client.get("/dags", auth=user.auth).status_code == 200
    with create_session() as session:
        row = session.scalar(select(models.User).where(models.User.username == "rotating"))
        assert row is not None
        set_password(row, "new-password")
    assert_401(client.get("/dags", auth=user.auth))
    assert client.get("/dags", auth=("rotating", "new-password")).status_code == 200
