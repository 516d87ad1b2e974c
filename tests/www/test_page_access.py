"""Every page for every default role: the page is served (200 HTML) exactly to the roles whose
permissions allow it, a 403 HTML page otherwise; menus list only what the role may open."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.www.conftest import ROLES, Browserish

ADMIN, OP, USER, VIEWER = (
    {"Admin"},
    {"Admin", "Op"},
    {"Admin", "Op", "User"},
    set(ROLES) - {"Public"},
)

#: page → roles that may open it (by Airflow 2's default role permissions).
PAGES: dict[str, set[str]] = {
    "/home": VIEWER,
    "/users/list/": ADMIN,
    "/users/add": ADMIN,
    "/roles/list/": ADMIN,
    "/roles/show/Viewer": ADMIN,
    "/connection/list/": OP,
    "/connection/add": OP,
    "/variable/list/": OP,
    "/variable/add": OP,
    "/pool/list/": VIEWER,
    "/pool/add": OP,
    "/pool/edit/default_pool": OP,
    "/configuration": OP,
    "/admin/access/": OP,
}
#: Admin menu link → the page it opens: shown to roles with the Admin menu that may open it
#: (a Viewer may read pools, as in Airflow, but has no Admin menu).
LINKS = {
    "/users/list/": "/users/list/",
    "/roles/list/": "/roles/list/",
    "/connection/list/": "/connection/list/",
    "/variable/list/": "/variable/list/",
    "/pool/list/": "/pool/list/",
    "/configuration": "/configuration",
    "/admin/access/": "/admin/access/",
}


@pytest.mark.parametrize("role", ROLES)
def test_pages_and_menus_follow_the_role(role: str, signed_in: Callable[[str], Browserish]) -> None:
    client = signed_in(role)
    for page, allowed in PAGES.items():
        response = client.get(page)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (page, role, response.text[:300])
        assert response.headers["content-type"].startswith("text/html"), page
    menu = client.get("/pool/list/" if role != "Public" else "/home").text
    nav = menu.split('<nav class="menus"', 1)[1].split("</nav>", 1)[0]
    linked = set(re.findall(r'href="([^"]+)"', nav))
    for link, page in LINKS.items():
        assert (link in linked) == (role in PAGES[page] and role in OP), (link, role)
    assert ('data-menu="Admin"' in nav) == (role in OP)
