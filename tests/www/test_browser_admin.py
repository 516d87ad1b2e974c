"""In Chromium, through the identity-aware proxy: Cloud Composer's documented pre-registration
(Admin > Users > Create) gives a service account its role; a Viewer sees no Admin menu and is
refused (403 page) when posting the form anyway. Screenshots of the Admin pages are saved to
docs/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.proxy.conftest import (  # noqa: F401
    add_user,
    bearer,
    id_token_for,
    make_account,
    proxy_url,
    servers,
    set_config,
)
from tests.www.browser import screenshot, sign_in_through_proxy

# Chromium on a shared, noisy machine: more room than the suite's 120 s per test.
pytestmark = pytest.mark.timeout(300)

PASSWORD = "correct horse battery staple"


def test_composer_guide_admin_users_create_then_the_service_account_acts_as_op(
    db: Path,
    proxy_url: str,  # noqa: F811
    new_page: Callable[[str], Page],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Unregistered principals would get Viewer: only the pre-registration can make it Op.
    set_config(monkeypatch, api__composer_auth_user_registration_role="Viewer")
    add_user("ada", ["Admin"], password=PASSWORD, email="ada@example.com")
    robot = make_account("composer-robot")
    username = f"accounts.google.com:{robot.unique_id}"

    page = new_page(proxy_url)
    sign_in_through_proxy(page, "ada", PASSWORD)
    page.locator(".menu[data-menu=Admin] > summary").click()
    page.get_by_role("link", name="Users", exact=True).click()
    expect(page.locator("h1")).to_have_text("Users")
    page.get_by_role("link", name="+ Create").click()
    expect(page.locator("h1")).to_have_text("Add user")
    page.fill("#first_name", "Composer")
    page.fill("#last_name", "Robot")
    page.fill("#username", username)
    page.fill("#email", "composer-robot-unique-string")
    page.select_option("#roles", ["Op"])
    expect(page.locator("#active")).to_be_checked()
    screenshot(page, "admin-users-create")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_have_text(f"User {username} created.")
    row = page.locator(f'#users tr[data-username="{username}"]')
    expect(row).to_contain_text("composer-robot-unique-string")
    expect(row).to_contain_text("Op")
    screenshot(page, "admin-users")

    # The service account's own ID token, through the proxy: it acts as that user, an Op.
    token = id_token_for(proxy_url, robot)
    connections = httpx.get(f"{proxy_url}/api/v1/connections", headers=bearer(token), timeout=60)
    assert connections.status_code == 200, connections.text
    users = httpx.get(f"{proxy_url}/api/v1/users", headers=bearer(token), timeout=60)
    assert users.status_code == 403  # an Op, not an Admin
    from aerovane.auth.users import find_user_by_email
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        assert find_user_by_email(robot.email, session=session) is None  # nobody auto-registered


def test_a_viewer_sees_no_admin_menu_and_posting_anyway_is_refused(
    db: Path,
    proxy_url: str,  # noqa: F811
    new_page: Callable[[str], Page],
) -> None:
    add_user("vic", ["Viewer"], password=PASSWORD, email="vic@example.com")
    page = new_page(proxy_url)
    sign_in_through_proxy(page, "vic", PASSWORD, target="/home")
    expect(page.locator(".menu[data-menu=Admin]")).to_have_count(0)
    page.goto("/users/add")
    expect(page.locator("h1")).to_have_text("403 Forbidden")
    # Post the create form anyway, with the Viewer's own valid CSRF token.
    token = page.locator("input[name=csrf_token]").first.input_value()
    page.set_content(
        f"""<form method="post" action="{proxy_url}/users/add">
        <input name="csrf_token" value="{token}"><input name="username" value="sneaky">
        <input name="email" value="sneaky"><input name="roles" value="Admin">
        <button type="submit">Go</button></form>"""
    )
    page.get_by_role("button", name="Go").click()
    expect(page.locator("h1")).to_have_text("403 Forbidden")
    expect(page.locator(".message")).to_have_text("You do not have permission to do that.")
    from aerovane.auth.users import find_user
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        assert find_user("sneaky", session=session) is None
