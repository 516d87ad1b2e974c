"""What the Admin list and form templates (`admin/list.html`, `admin/form.html`) are given:
form fields and list rows, so each resource's routes only say which fields and columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    label: str
    value: Any = None
    type: str = "text"  # text, password, number, textarea, checkbox
    help: str = ""
    required: bool = False
    readonly: bool = False
    datalist: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cells: Sequence[Any]
    edit: str | None = None
    delete: str | None = None


def path_part(value: str) -> str:
    """A key as one URL path segment (keys may hold `/`, `?`, `#`, spaces)."""
    return quote(value, safe="")


def list_context(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    table_id: str,
    create_href: str | None = None,
    search: str | None = None,
    links: Any = None,
    intro: str = "",
) -> dict[str, Any]:
    return {
        "title": title,
        "columns": columns,
        "rows": rows,
        "table_id": table_id,
        "create_href": create_href,
        "search": search,
        "links": links,
        "intro": intro,
    }


def form_context(
    title: str, action: str, fields: Sequence[Field], *, cancel: str, error: str = ""
) -> dict[str, Any]:
    return {"title": title, "action": action, "fields": fields, "cancel": cancel, "error": error}
