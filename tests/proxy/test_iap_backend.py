"""The API's `iap` backend (Composer's `composer_auth`): only a verifiable assertion counts, and
users are found by their immutable subject or registered (decision 0008)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthOutcome, load_backends
from aerovane.auth.backends.iap import backend
from aerovane.auth.users import find_user
from aerovane.db.engine import create_session
from aerovane.identity import Principal, iap_audience, sign_iap_assertion
from tests.proxy.conftest import add_user, make_account, set_config

NS = "accounts.google.com"


def _assertion(principal: Principal, *, audience: str | None = None) -> str:
    with create_session() as session:
        return sign_iap_assertion(
            principal, audience=audience or iap_audience(), namespace=NS, session=session
        )


def _service_account(name: str = "robot-one") -> Principal:
    account = make_account(name)
    return Principal("serviceAccount", account.email, account.unique_id)


def _authenticate(token: str | None) -> Any:
    headers = [] if token is None else [(b"x-goog-iap-jwt-assertion", token.encode())]
    request = HTTPConnection({"type": "http", "headers": headers, "method": "GET", "path": "/"})
    with create_session(readonly=True) as session:
        return backend.authenticate(request, session)


def _roles(username: str) -> list[str]:
    with create_session(readonly=True) as session:
        user = find_user(username, session=session)
        assert user is not None
        return sorted(r.name for r in user.roles)


def test_aliases_resolve() -> None:
    (by_alias,) = load_backends(["airflow.composer.api.backend.composer_auth"])
    (short,) = load_backends(["iap"])
    assert by_alias is short is backend
    assert backend.name == "aerovane.auth.backends.iap"


def test_default_chain_is_iap_then_basic_auth(aerovane_home: Path) -> None:
    from aerovane.config import get_settings

    assert get_settings().auth_backend_names == [
        "aerovane.auth.backends.iap",
        "aerovane.auth.backends.basic_auth",
    ]


def test_refusals_carry_the_composer_challenge(db: Path) -> None:
    principal = _service_account()
    for token in (
        None,
        "",
        "garbage",
        _assertion(principal, audience="/projects/1/global/backendServices/2"),
    ):
        result = _authenticate(token)
        assert result.outcome is AuthOutcome.FAILURE
        assert result.status == 401
        assert result.headers == {"WWW-Authenticate": "Composer"}


def test_new_user_gets_the_configured_role(db: Path, monkeypatch: Any) -> None:
    set_config(monkeypatch, api__composer_auth_user_registration_role="User")
    principal = _service_account()
    result = _authenticate(_assertion(principal))
    assert result.outcome is AuthOutcome.USER
    username = f"{NS}:{principal.unique_id}"
    assert result.user.username == username
    assert _roles(username) == ["User"]
    with create_session(readonly=True) as session:
        user = find_user(username, session=session)
        assert (user.email, user.first_name, user.last_name) == (
            principal.email,
            principal.email,
            "-",
        )
        assert user.password is None
    # The second request finds the user by its sub: nothing is registered twice.
    again = _authenticate(_assertion(principal))
    assert again.outcome is AuthOutcome.USER and again.user.user_id == result.user.user_id


def test_pre_registered_by_id_keeps_its_role(db: Path) -> None:
    principal = _service_account()
    username = f"{NS}:{principal.unique_id}"
    add_user(username, ["Admin"], email=principal.email)
    result = _authenticate(_assertion(principal))
    assert result.outcome is AuthOutcome.USER and result.user.username == username
    assert _roles(username) == ["Admin"]


def test_a_user_named_by_the_email_is_neither_renamed_nor_taken(db: Path) -> None:
    """Composer would rename it to the sub and act as it (decision 0008: refused)."""
    principal = _service_account()
    add_user(principal.email, ["Viewer"], email=principal.email)
    result = _authenticate(_assertion(principal))
    assert result.status == 401 and result.headers == {"WWW-Authenticate": "Composer"}
    assert _roles(principal.email) == ["Viewer"]
    with create_session(readonly=True) as session:
        assert find_user(f"{NS}:{principal.unique_id}", session=session) is None


def test_a_taken_email_blocks_registration(db: Path) -> None:
    principal = _service_account()
    add_user("someone", ["Admin"], email=principal.email.upper())
    result = _authenticate(_assertion(principal))
    assert result.status == 401 and result.headers == {"WWW-Authenticate": "Composer"}
    with create_session(readonly=True) as session:
        assert find_user(f"{NS}:{principal.unique_id}", session=session) is None


def test_local_person_is_found_by_id_unchanged(db: Path) -> None:
    from aerovane.identity.principals import principal_for_user

    add_user("alice", ["Op"], email="alice@example.com")
    add_user("alice@example.com", ["Admin"], email="root@example.org")
    with create_session(readonly=True) as session:
        principal = principal_for_user(find_user("alice", session=session))
    result = _authenticate(_assertion(principal))
    assert result.outcome is AuthOutcome.USER and result.user.username == "alice"
    assert _roles("alice") == ["Op"]
    assert _roles("alice@example.com") == ["Admin"]


def test_inactive_users_are_refused(db: Path) -> None:
    from aerovane.identity.principals import principal_for_user

    principal = _service_account()
    username = f"{NS}:{principal.unique_id}"
    add_user(username, ["Admin"], email=principal.email, active=False)
    result = _authenticate(_assertion(principal))
    assert result.status == 401 and result.headers == {"WWW-Authenticate": "Composer"}
    add_user("bob", ["Admin"], email="bob@example.com", active=False)
    with create_session(readonly=True) as session:
        bob = principal_for_user(find_user("bob", session=session))
    result = _authenticate(_assertion(bob))
    assert result.status == 401 and result.headers == {"WWW-Authenticate": "Composer"}


def test_unregistrable_user_is_refused(db: Path, monkeypatch: Any) -> None:
    set_config(monkeypatch, api__composer_auth_user_registration_role="NoSuchRole")
    result = _authenticate(_assertion(_service_account()))
    assert result.status == 401 and result.headers == {"WWW-Authenticate": "Composer"}


def test_long_service_account_email(db: Path, monkeypatch: Any) -> None:
    """Airflow caps emails at 64 characters; Composer service accounts can be longer."""
    set_config(monkeypatch, identity__project_id="a-rather-long-project-identifier")
    principal = _service_account("a-service-account-name-twenty")
    assert len(principal.email) >= 70
    result = _authenticate(_assertion(principal))
    assert result.outcome is AuthOutcome.USER
    with create_session(readonly=True) as session:
        assert find_user(result.user.username, session=session).email == principal.email


def test_composer_role_rules_through_the_api(api_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Composer's own test: registered as User, may read import errors, is refused what
    only Op may do (Composer's test uses pools; Aerovane's User may read those, as Airflow's)."""
    set_config(monkeypatch, api__composer_auth_user_registration_role="User")
    headers = {"X-Goog-IAP-JWT-Assertion": _assertion(_service_account())}
    assert httpx.get(f"{api_url}/api/v1/importErrors", headers=headers).status_code == 200
    assert httpx.get(f"{api_url}/api/v1/connections", headers=headers).status_code == 403
    set_config(monkeypatch, api__auth_backends="airflow.composer.api.backend.composer_auth")
    bad = httpx.get(f"{api_url}/api/v1/dags", headers={"X-Goog-IAP-JWT-Assertion": "x.y.z"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == "Composer"


def test_a_service_account_signs_in_with_each_new_assertion(api_url: str) -> None:
    from sqlalchemy import select

    from aerovane.db import models

    def login_count() -> int | None:
        with create_session(readonly=True) as session:
            return session.scalar(select(models.User.login_count).where(models.User.email == email))

    principal = _service_account()
    email = principal.email
    headers = {"X-Goog-IAP-JWT-Assertion": _assertion(principal)}
    for _ in range(2):
        assert httpx.get(f"{api_url}/api/v1/importErrors", headers=headers).status_code == 200
    assert login_count() == 1
    renewed = _assertion(principal)
    assert renewed != headers["X-Goog-IAP-JWT-Assertion"]  # ES256 signatures are randomised
    headers = {"X-Goog-IAP-JWT-Assertion": renewed}
    assert httpx.get(f"{api_url}/api/v1/importErrors", headers=headers).status_code == 200
    assert login_count() == 2
