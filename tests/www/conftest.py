"""Fixtures for web UI tests: the API app on a real uvicorn server (shared with tests/api),
users per role, and an HTTP client signed in through the sign-in form like a browser.

Browser (Chromium) fixtures live in `tests/www/browser.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api import conftest as api_fixtures
from tests.api.conftest import ROLES, Account, add_user
from tests.www import browser as browser_fixtures

__all__ = ["ROLES", "Account", "add_user"]

# The API's server and users, as fixtures of this package too.
_server_holder = api_fixtures._server_holder
base_url = api_fixtures.base_url
accounts = api_fixtures.accounts

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = _TOKEN.search(html)
    assert found, "no form with a CSRF token on this page"
    return found.group(1)


class Browserish(httpx.Client):
    """An HTTP client that keeps cookies and posts forms with the page's CSRF token."""

    def post_form(
        self, page: str, action: str, fields: dict[str, str | list[str]]
    ) -> httpx.Response:
        token = csrf_token(self.get(page).text)
        return self.post(action, data={"csrf_token": token, **fields})


def sign_in(base: str, account: Account) -> Browserish:
    client = Browserish(base_url=base, timeout=60, follow_redirects=False)
    response = client.post_form(
        "/login/", "/login/", {"username": account.username, "password": account.password}
    )
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def signed_in(base_url: str, accounts: dict[str, Account]) -> Iterator[Callable[[str], Browserish]]:
    """`signed_in("Admin")`: a client signed in as that role's user."""
    clients: list[Browserish] = []

    def make(role: str) -> Browserish:
        client = sign_in(base_url, accounts[role])
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def anonymous(base_url: str, db: Path) -> Iterator[Browserish]:
    with Browserish(base_url=base_url, timeout=60, follow_redirects=False) as client:
        yield client


chromium = browser_fixtures.chromium
new_page = browser_fixtures.new_page
