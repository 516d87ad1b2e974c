"""Which Airflow user a proxied principal acts as (issue 14, "Identity"): the immutable subject
decides, an email never takes over or renames a user, and a re-created service account does not
inherit its predecessor's user. Every request goes through the real proxy with real tokens:
google-auth's service-account credentials, or a local person's refresh token exchanged at the
token service, or the proxy's own sign-in page."""

from __future__ import annotations

import re
from typing import Any

import google.auth.transport.requests
import httpx
from google.oauth2 import service_account

from aerovane.auth.users import find_user
from aerovane.db.engine import create_session
from aerovane.identity import oauth_client_id
from tests.proxy.conftest import Account, add_user, make_account

PASSWORD = "correct horse battery staple"
NS = "accounts.google.com"
ADMIN_ONLY = "/auth/fab/v1/users"


def _google_auth_id_token(proxy_url: str, account: Account) -> str:
    """What `google.oauth2.id_token.fetch_id_token` does with the account's key file."""
    info = {**account.key_file, "token_uri": f"{proxy_url}/token"}
    credentials = service_account.IDTokenCredentials.from_service_account_info(
        info, target_audience=oauth_client_id()
    )
    credentials.refresh(google.auth.transport.requests.Request())
    token: str = credentials.token
    return token


def _person_id_token(proxy_url: str, username: str, password: str) -> str:
    """What `aerovane auth login` then `print-identity-token` do: password → refresh → ID."""
    login = httpx.post(
        f"{proxy_url}/token",
        data={"grant_type": "password", "username": username, "password": password},
    )
    assert login.status_code == 200, login.text
    exchanged = httpx.post(
        f"{proxy_url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": login.json()["refresh_token"],
            "audience": oauth_client_id(),
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    token: str = exchanged.json()["id_token"]
    return token


def _get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "*/*"})


def _basic(api_url: str, username: str, password: str) -> int:
    return httpx.get(f"{api_url}/api/v1/dags", auth=(username, password)).status_code


def _sign_in(browser: httpx.Client, username: str, password: str) -> None:
    """The proxy's own sign-in page, as a browser goes through it."""
    redirect = browser.get("/api/v1/dags")
    assert redirect.status_code == 302
    page = browser.get(redirect.headers["location"])
    state = re.search(r'name=state value="([^"]+)"', page.text)
    assert state, page.text
    done = browser.post(
        "/_aerovane/login",
        data={"username": username, "password": password, "state": state.group(1)},
    )
    assert done.status_code == 302, done.text


def _user(username: str) -> Any:
    with create_session(readonly=True) as session:
        user = find_user(username, session=session)
        if user is None:
            return None
        return (user.id, user.email, sorted(role.name for role in user.roles))


def _user_count() -> int:
    from sqlalchemy import func, select

    from aerovane.db import models

    with create_session(readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(models.User)) or 0)


def test_a_viewer_whose_email_is_an_admins_username_stays_a_viewer(
    proxy_url: str, api_url: str
) -> None:
    add_user("dave@example.com", ["Admin"], password=PASSWORD, email="dave.admin@example.org")
    add_user("vera", ["Viewer"], password=PASSWORD, email="dave@example.com")
    admin_before = _user("dave@example.com")

    token = _person_id_token(proxy_url, "vera", PASSWORD)
    assert _get(f"{proxy_url}/api/v1/dags", token).status_code == 200  # a Viewer may read
    assert _get(f"{proxy_url}{ADMIN_ONLY}", token).status_code == 403
    with httpx.Client(base_url=proxy_url, headers={"Accept": "text/html"}) as browser:
        _sign_in(browser, "vera", PASSWORD)
        assert browser.get("/api/v1/dags").status_code == 200
        assert browser.get(ADMIN_ONLY).status_code == 403

    # Nobody was renamed or registered: the Admin keeps its name, its roles and its login.
    assert _user("dave@example.com") == admin_before
    assert _user("vera") is not None
    assert _user_count() == 2
    assert _basic(api_url, "dave@example.com", PASSWORD) == 200


def test_a_re_created_service_account_does_not_inherit_the_deleted_ones_user(
    proxy_url: str,
) -> None:
    from aerovane.identity import service_accounts

    first = make_account("robot-one")
    # Composer's documented pre-registration: username accounts.google.com:<numeric id>.
    add_user(f"{NS}:{first.unique_id}", ["Admin"], email=first.email)
    old_token = _google_auth_id_token(proxy_url, first)
    assert _get(f"{proxy_url}{ADMIN_ONLY}", old_token).status_code == 200

    with create_session() as session:
        service_accounts.delete_service_account(first.email, session=session)
    second = make_account("robot-one")
    assert second.email == first.email and second.unique_id != first.unique_id

    token = _google_auth_id_token(proxy_url, second)
    # As Composer: the new principal is a stranger whose email is taken, so it cannot register.
    assert _get(f"{proxy_url}{ADMIN_ONLY}", token).status_code == 401
    assert _get(f"{proxy_url}/api/v1/dags", token).status_code == 401
    assert _get(f"{proxy_url}/api/v1/dags", old_token).status_code == 401  # deleted principal

    # The old user is left as it was (an Admin can delete it to let the new account register).
    assert _user(f"{NS}:{first.unique_id}")[1:] == (first.email, ["Admin"])
    assert _user(f"{NS}:{second.unique_id}") is None
    assert _user_count() == 1


def test_the_backend_never_renames_a_local_user(proxy_url: str, api_url: str) -> None:
    robot = make_account("robot-two")
    # A person whose username happens to be the service account's email.
    add_user(robot.email, ["Viewer"], password=PASSWORD, email="ops@example.com")
    before = _user(robot.email)
    assert _basic(api_url, robot.email, PASSWORD) == 200

    token = _google_auth_id_token(proxy_url, robot)
    response = _get(f"{proxy_url}/api/v1/dags", token)
    assert _basic(api_url, robot.email, PASSWORD) == 200  # the person can still log in
    assert _user(robot.email) == before
    assert _user(f"{NS}:{robot.unique_id}") is None
    # Composer would rename that user to the subject and act as it; Aerovane refuses instead.
    assert response.status_code == 401


def test_an_unknown_service_account_is_registered_by_its_subject(proxy_url: str) -> None:
    robot = make_account("robot-three")
    token = _google_auth_id_token(proxy_url, robot)
    assert _get(f"{proxy_url}/api/v1/dags", token).status_code == 200  # Op by default
    assert _get(f"{proxy_url}{ADMIN_ONLY}", token).status_code == 403
    assert _user(f"{NS}:{robot.unique_id}")[1:] == (robot.email, ["Op"])
    # The next request finds it by its subject again; nothing is registered twice.
    assert _get(f"{proxy_url}/api/v1/dags", token).status_code == 200
    assert _user_count() == 1


def test_a_person_is_found_by_id_not_by_a_username_that_looks_like_their_subject(
    proxy_url: str,
) -> None:
    """A local account's subject is `<ns>:<10**20 + id>`; a user *named* so is someone else."""
    from aerovane.identity.principals import USER_ID_BASE

    add_user("pat", ["Viewer"], password=PASSWORD, email="pat@example.com")
    pat_id = _user("pat")[0]
    add_user(f"{NS}:{USER_ID_BASE + pat_id}", ["Admin"], email="root@example.org")
    token = _person_id_token(proxy_url, "pat", PASSWORD)
    assert _get(f"{proxy_url}/api/v1/dags", token).status_code == 200
    assert _get(f"{proxy_url}{ADMIN_ONLY}", token).status_code == 403
