"""In Chromium: sign in through the proxy and on the UI's own form; menus follow the role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.proxy.conftest import add_user, proxy_url, servers  # noqa: F401
from tests.www.browser import sign_in_on_form, sign_in_through_proxy

# Chromium on a shared, noisy machine: more room than the suite's 120 s per test.
pytestmark = pytest.mark.timeout(300)

PASSWORD = "correct horse battery staple"


def test_sign_in_through_the_proxy_and_see_the_menus_of_the_role(
    db: Path,
    proxy_url: str,  # noqa: F811
    new_page: Callable[[str], Page],
) -> None:
    add_user("ada", ["Admin"], password=PASSWORD, email="ada@example.com")
    add_user("vic", ["Viewer"], password=PASSWORD, email="vic@example.com")
    admin = new_page(proxy_url)
    sign_in_through_proxy(admin, "ada", PASSWORD)
    expect(admin).to_have_url(f"{proxy_url}/home")
    expect(admin.locator(".menu[data-menu=Admin]")).to_be_visible()
    viewer = new_page(proxy_url)
    sign_in_through_proxy(viewer, "vic", PASSWORD, target="/home")
    expect(viewer.locator(".account .who")).to_contain_text("vic")
    expect(viewer.locator(".menu[data-menu=Admin]")).to_have_count(0)
    # Unknown pages are HTML a browser shows.
    viewer.goto("/no-such-page")
    expect(viewer.locator("h1")).to_have_text("404 Not Found")


def test_sign_in_and_out_on_the_ui_form(
    base_url: str, accounts: dict, new_page: Callable[[str], Page]
) -> None:
    page = new_page(base_url)
    sign_in_on_form(page, "op", "Op-pw")
    expect(page).to_have_url(f"{base_url}/home")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#username")).to_be_visible()
