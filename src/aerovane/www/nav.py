"""The menu bar: menus of links, each shown only to people holding its permission.

Pages register their links here at import time (`add_link`), so the DAG pages, Browse and
Admin each own their entries. A menu with no visible link is not shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aerovane.auth.permissions import MENU, READ, Perm
from aerovane.www.access import Access


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    href: str
    #: Every one of these permissions is needed to see the link.
    requires: tuple[Perm, ...]
    order: int = 100


@dataclass(slots=True)
class Menu:
    label: str
    #: Needed to see the menu at all (Airflow's `menu_access` on the menu's name).
    requires: tuple[Perm, ...]
    order: int
    links: list[Link] = field(default_factory=list)


#: Top-level entries in the order shown. A menu with one link and `href` set is a plain link.
MENUS: dict[str, Menu] = {
    "DAGs": Menu("DAGs", ((READ, "DAGs"),), 10),
    "Browse": Menu("Browse", ((MENU, "Browse"),), 30),
    "Admin": Menu("Admin", ((MENU, "Admin"),), 40),
    "Docs": Menu("Docs", ((MENU, "Docs"),), 60),
}


def add_link(menu: str, label: str, href: str, *requires: Perm, order: int = 100) -> None:
    """Register a link (idempotent: the same href in the same menu is kept once)."""
    entry = MENUS[menu]
    if any(link.href == href for link in entry.links):
        return
    entry.links.append(Link(label, href, tuple(requires), order))
    entry.links.sort(key=lambda link: (link.order, link.label))


@dataclass(frozen=True, slots=True)
class VisibleMenu:
    label: str
    links: tuple[Link, ...]


def visible_menus(access: Access) -> list[VisibleMenu]:
    shown: list[VisibleMenu] = []
    for menu in sorted(MENUS.values(), key=lambda m: m.order):
        if not all(access.can(action, resource) for action, resource in menu.requires):
            continue
        links = tuple(
            link
            for link in menu.links
            if all(access.can(action, resource) for action, resource in link.requires)
        )
        if links:
            shown.append(VisibleMenu(menu.label, links))
    return shown
