"""In Chromium, without the proxy (the UI's own sign-in form): a connection's password is never
shown back and survives an edit that leaves it blank; the other Admin pages render; Swagger UI
renders from the server's own assets. Screenshots go to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from aerovane.db.engine import create_session
from aerovane.services import connections as connection_service
from tests.www.browser import screenshot, sign_in_on_form

# Chromium on a shared, noisy machine: more room than the suite's 120 s per test.
pytestmark = pytest.mark.timeout(300)


def test_a_connection_password_is_never_shown_and_kept_when_left_blank(
    base_url: str, accounts: dict, new_page: Callable[[str], Page]
) -> None:
    page = new_page(base_url)
    sign_in_on_form(page, "admin", "Admin-pw")
    page.goto("/connection/add")
    page.fill("#conn_id", "warehouse")
    page.fill("#conn_type", "postgres")
    page.fill("#host", "db.internal")
    page.fill("#login", "etl")
    page.fill("#password", "s3cr3t-pass")
    page.fill("#port", "5432")
    page.fill("#extra", '{"sslmode": "require", "api_token": "tok-123456"}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_have_text("Connection warehouse created.")
    screenshot(page, "admin-connections")
    page.locator('#connections tr[data-key="warehouse"]').get_by_role("link", name="Edit").click()
    expect(page.locator("#password")).to_have_value("")
    expect(page.locator("#extra")).to_have_value('{"sslmode": "require", "api_token": "***"}')
    assert "s3cr3t-pass" not in page.content() and "tok-123456" not in page.content()
    page.fill("#host", "db2.internal")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.success")).to_have_text("Connection warehouse saved.")
    with create_session(readonly=True) as session:
        row = connection_service.get_connection("warehouse", session=session)
        password, extra = connection_service.revealed(row)
        assert (row.host, password) == ("db2.internal", "s3cr3t-pass")
        assert extra is not None and "tok-123456" in extra


def test_admin_pages_and_swagger_ui_render(
    base_url: str, accounts: dict, new_page: Callable[[str], Page]
) -> None:
    page = new_page(base_url)
    sign_in_on_form(page, "admin", "Admin-pw")
    page.goto("/variable/add")
    page.fill("#key", "deploy_env")
    page.fill("#val", "production")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#variables")).to_contain_text("production")
    screenshot(page, "admin-variables")

    page.goto("/pool/list/")
    expect(page.locator('#pools tr[data-key="default_pool"]')).to_be_visible()
    screenshot(page, "admin-pools")
    page.goto("/roles/show/Op")
    expect(page.locator("#permissions")).to_contain_text("Connections")
    screenshot(page, "admin-role")
    page.goto("/admin/access/")
    expect(page.locator("#registration-role")).to_have_text("Op")
    screenshot(page, "admin-access-control")

    page.goto("/api/v1/ui")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Aerovane")
    screenshot(page, "api-swagger-ui", full_page=False)
