"""Chromium fixtures for the UI's browser tests: Debian's `/usr/bin/chromium` driven by
Playwright (no browser download), one browser per test process, a fresh context per test.

Tests wait with Playwright's auto-waiting `expect(...)` (generous timeouts), never by sleeping.
`page_for(role)` signs a new page in through the identity-aware proxy's own sign-in form, as a
person reaches the UI on the public port.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
#: Generous: the machine is shared and noisy; expect() returns as soon as the condition holds.
TIMEOUT_MS = 90_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(chromium: object) -> Iterator[Callable[[str], object]]:
    """`new_page(base_url)`: a page in a fresh browser context (its own cookies)."""
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    expect.set_options(timeout=TIMEOUT_MS)
    contexts = []

    def make(base_url: str) -> object:
        context = chromium.new_context(
            base_url=base_url, viewport={"width": 1366, "height": 800}, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in_through_proxy(page: object, username: str, password: str, target: str = "/") -> None:
    """Open `target` on the public port and sign in on the proxy's form, as a person does."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(target)
    expect(page.locator("input[name=username]")).to_be_visible()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.locator("form").locator("button, input[type=submit]").first.click()
    expect(page.locator("header.topbar")).to_be_visible()


def sign_in_on_form(page: object, username: str, password: str, target: str = "/home") -> None:
    """Without the proxy: the UI's own sign-in form."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(target)
    expect(page.locator("#username")).to_be_visible()
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".account .who")).to_be_visible()


def screenshot(page: object, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot as docs/screenshots/<name>.png (committed; the README shows them);
    `full_page=False` for long pages (the viewport only)."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    if not re.fullmatch(r"[a-z0-9-]+", name):
        raise ValueError(name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
