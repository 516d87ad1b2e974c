"""The UI on the public port, behind the identity-aware proxy: the person is the proxy's
signed assertion (no second sign-in), pages and their errors are HTML."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.proxy.conftest import add_user, proxy_url, servers  # noqa: F401
from tests.www.conftest import csrf_token

PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser(proxy_url: str) -> Iterator[httpx.Client]:  # noqa: F811
    with httpx.Client(base_url=proxy_url, headers={"Accept": "text/html"}, timeout=60) as client:
        yield client


def proxy_sign_in(browser: httpx.Client, target: str, username: str) -> httpx.Response:
    redirect = browser.get(target)
    assert redirect.status_code == 302, redirect.text
    page = browser.get(redirect.headers["location"])
    state = re.search(r'name=state value="([^"]+)"', page.text)
    assert state, page.text
    done = browser.post(
        "/_aerovane/login",
        data={"username": username, "password": PASSWORD, "state": state.group(1)},
    )
    assert done.status_code == 302, done.text
    return browser.get(target)


def test_pages_after_signing_in_on_the_proxy(db: Path, browser: httpx.Client) -> None:
    add_user("alice", ["Op"], password=PASSWORD, email="alice@example.com")
    root = proxy_sign_in(browser, "/", "alice")
    assert root.status_code == 302 and root.headers["location"] == "/home"
    home = browser.get("/home")
    assert home.status_code == 200, home.text
    assert home.headers["content-type"].startswith("text/html")
    assert "alice" in home.text
    # Already signed in on the proxy: the UI's own form is not shown.
    assert browser.get("/login/?next=/home").headers["location"] == "/home"
    missing = browser.get("/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    # Signing out goes through the proxy's sign-out, which ends its session.
    out = browser.post("/logout/", data={"csrf_token": csrf_token(home.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/?gcp-iap-mode=CLEAR_LOGIN_COOKIE"


def test_a_deactivated_person_is_sent_back_to_the_proxy_sign_in(
    db: Path, browser: httpx.Client
) -> None:
    add_user("bob", ["Viewer"], password=PASSWORD, email="bob@example.com")
    proxy_sign_in(browser, "/home", "bob")
    from aerovane.auth.users import find_user
    from aerovane.db.engine import create_session

    with create_session() as session:
        user = find_user("bob", session=session)
        assert user is not None
        user.active = False
    page = browser.get("/home")
    # The proxy itself refuses a deactivated local account: back to its sign-in page.
    assert page.status_code == 302
    assert "/_aerovane/login" in page.headers["location"]


def test_a_service_account_whose_user_is_inactive_gets_a_page_saying_why(
    db: Path,
    proxy_url: str,  # noqa: F811
) -> None:
    from tests.proxy.conftest import bearer, id_token_for, make_account

    robot = make_account("inactive-robot")
    add_user(f"accounts.google.com:{robot.unique_id}", ["Op"], email="robot-id", active=False)
    token = id_token_for(proxy_url, robot)
    page = httpx.get(
        f"{proxy_url}/home", headers={**bearer(token), "Accept": "text/html"}, timeout=60
    )
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "no active Aerovane user" in page.text
