"""The `session` auth backend: signed session cookies (issue, verify, expire, forge), the API
accepting them, Airflow's alias names, and a misconfigured backend name stopping start-up."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.auth.sessions import SESSION_COOKIE, issue_session_cookie, read_session_cookie
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_dag, add_user
from tests.api.test_authentication import assert_401


def with_cookie(value: str) -> dict[str, str]:
    """The request header carrying a `session` cookie."""
    return {"cookie": f"{SESSION_COOKIE}={value}"}


def user_id(username: str) -> int:
    with create_session(readonly=True) as session:
        found = session.scalar(select(models.User.id).where(models.User.username == username))
        assert found is not None
        return found


def cookie_for(username: str, **kwargs: Any) -> str:
    """A session cookie for the user as the sign-in form issues it (their epoch and password)."""
    with create_session(readonly=True) as session:
        user = session.scalar(select(models.User).where(models.User.username == username))
        assert user is not None
        return issue_session_cookie(
            user.id, epoch=user.session_epoch, password_hash=user.password, **kwargs
        )


def unbound(uid: int, **kwargs: Any) -> str:
    """A cookie for user id `uid`, bound to no real account's epoch or password."""
    return issue_session_cookie(uid, epoch=0, password_hash="hash", **kwargs)


# -- cookies --------------------------------------------------------------------------------------


def test_cookie_round_trip(aerovane_home: Path) -> None:
    value = issue_session_cookie(42, epoch=3, password_hash="hash")
    cookie = read_session_cookie(value)
    assert cookie is not None
    assert (cookie.user_id, cookie.epoch) == (42, 3)
    payload = json.loads(base64.urlsafe_b64decode(value.split(".")[0] + "=="))
    assert payload["uid"] == 42
    assert "hash" not in value and "hash" not in json.dumps(payload)
    assert payload["exp"] > time.time() + 29 * 86400


def test_cookie_expiry(aerovane_home: Path) -> None:
    value = unbound(7, lifetime_seconds=60, now=1_000_000.0)
    assert read_session_cookie(value, now=1_000_059.0) is not None
    assert read_session_cookie(value, now=1_000_060.0) is None


def _forge(payload: dict[str, Any], signature: str) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{body}.{signature}"


def test_forged_and_malformed_cookies(aerovane_home: Path) -> None:
    good = unbound(1)
    payload, signature = good.split(".")
    far = int(time.time()) + 3600
    assert read_session_cookie(_forge({"uid": 2, "exp": far}, signature)) is None
    assert read_session_cookie(payload + "." + signature[:-2] + "AA") is None
    for bad in ("", ".", "abc", "abc.", ".abc", "ü.ü", good + "x", "a.b.c"):
        assert read_session_cookie(bad) is None


def test_cookie_needs_this_servers_secret(
    aerovane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.api.conftest import set_config

    value = unbound(3)
    set_config(monkeypatch, webserver__secret_key="another-secret")
    assert read_session_cookie(value) is None
    assert read_session_cookie(unbound(3)) is not None


# -- the backend ----------------------------------------------------------------------------------


@pytest.fixture
def session_auth(accounts: Any, configure: Any) -> None:
    add_dag("etl")
    configure(api__auth_backends="airflow.api.auth.backend.session")


def test_valid_cookie_authenticates(client: httpx.Client, session_auth: None) -> None:
    cookie = with_cookie(cookie_for("viewer"))
    response = client.get("/dags", headers=cookie)
    assert response.status_code == 200
    assert [d["dag_id"] for d in response.json()["dags"]] == ["etl"]
    # The caller's permissions are the user's: a viewer may not list users.
    assert client.get("/users", headers=cookie).status_code == 403
    admin_cookie = with_cookie(cookie_for("admin"))
    assert client.get("/users", headers=admin_cookie).status_code == 200


def test_basic_auth_is_not_a_session(client: httpx.Client, session_auth: None) -> None:
    assert_401(client.get("/dags", auth=("viewer", "Viewer-pw")), challenge=False)


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "",
        "garbage",
        "expired",
        "forged",
        "unknown-user",
    ],
)
def test_bad_cookies_are_401_without_challenge(
    client: httpx.Client, session_auth: None, cookie: str | None
) -> None:
    value = cookie
    if cookie == "expired":
        value = cookie_for("admin", lifetime_seconds=-1)
    elif cookie == "forged":
        _, signature = cookie_for("viewer").split(".")
        value = _forge({"uid": user_id("admin"), "exp": int(time.time()) + 60}, signature)
    elif cookie == "unknown-user":
        value = unbound(999_999)
    headers = with_cookie(value) if value is not None else None
    assert_401(client.get("/dags", headers=headers), challenge=False)


def test_inactive_or_deleted_user_loses_access(client: httpx.Client, session_auth: None) -> None:
    gone = add_user("leaver", ["Admin"])
    cookie = with_cookie(cookie_for(gone.username))
    assert client.get("/dags", headers=cookie).status_code == 200
    with create_session() as session:
        row = session.scalar(select(models.User).where(models.User.username == "leaver"))
        assert row is not None
        row.active = False
    assert_401(client.get("/dags", headers=cookie), challenge=False)
    with create_session() as session:
        row = session.scalar(select(models.User).where(models.User.username == "leaver"))
        session.delete(row)
    assert_401(client.get("/dags", headers=cookie), challenge=False)


def test_chained_with_basic_auth(client: httpx.Client, accounts: Any, configure: Any) -> None:
    configure(api__auth_backends="session,basic_auth")
    assert client.get("/dags", auth=accounts["Viewer"].auth).status_code == 200
    cookie = with_cookie(cookie_for("viewer"))
    assert client.get("/dags", headers=cookie).status_code == 200
    # The last backend's challenge comes with the 401.
    assert_401(client.get("/dags"), challenge=True)


@pytest.mark.parametrize(
    "name",
    [
        "session",
        "aerovane.auth.backends.session",
        "airflow.api.auth.backend.session",
        "airflow.providers.fab.auth_manager.api.auth.backend.session",
    ],
)
def test_session_aliases(client: httpx.Client, accounts: Any, configure: Any, name: str) -> None:
    configure(api__auth_backends=name)
    cookie = with_cookie(cookie_for("op"))
    assert client.get("/dags", headers=cookie).status_code == 200


# -- misconfiguration -----------------------------------------------------------------------------


def test_unknown_backend_is_a_config_error(aerovane_home: Path) -> None:
    from aerovane.config import ConfigError, Settings

    with pytest.raises(ConfigError) as raised:
        Settings(environ={**os.environ, "AEROVANE__API__AUTH_BACKENDS": "session,sesion"})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("[api] auth_backends: unknown auth backend 'sesion'; allowed:")
    assert "aerovane.auth.backends.session" in message


def test_unknown_backend_stops_the_api_server(aerovane_home: Path) -> None:
    env = {
        **os.environ,
        "AEROVANE_HOME": str(aerovane_home),
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.kerberos_auth",
    }
    result = subprocess.run(
        [sys.executable, "-m", "aerovane", "api-server", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "Error: [api] auth_backends: unknown auth backend "
        "'airflow.api.auth.backend.kerberos_auth'; allowed:"
    )


def test_a_deleted_users_cookie_does_not_sign_in_the_next_user(
    client: httpx.Client, session_auth: None
) -> None:
    """SQLite gave a new user the id of the newest deleted one, and with it that user's cookies
    (and ID tokens: both name users by id). ab_user ids are never reused (migration 0010)."""
    gone = add_user("leaver", ["Viewer"], email="same@example.com")
    old_id = user_id(gone.username)
    cookie = with_cookie(cookie_for(gone.username))
    assert client.get("/dags", headers=cookie).status_code == 200
    with create_session() as session:
        session.delete(session.get(models.User, old_id))
    add_user("newcomer", ["Admin"], email="same@example.com")
    assert user_id("newcomer") != old_id
    assert_401(client.get("/users", headers=cookie), challenge=False)
