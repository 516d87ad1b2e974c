"""Rendering pages: one Jinja2 environment over `www/templates`, autoescaped.

Every page gets `request`, `principal`, `access` (the permission helper), `menus` (what this
person may see), `csrf_token` (for forms) and `version`. Templates extend `base.html` and fill
its blocks (`title`, `content`, optionally `head` and `scripts`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from aerovane import __version__
from aerovane.www import csrf, flash
from aerovane.www.access import Access
from aerovane.www.auth import current_principal
from aerovane.www.nav import visible_menus

#: Airflow 2's state colours (`airflow.settings.STATE_COLORS` defaults).
STATE_COLORS: dict[str, str] = {
    "deferred": "mediumpurple",
    "failed": "red",
    "queued": "gray",
    "removed": "lightgrey",
    "restarting": "violet",
    "running": "lime",
    "scheduled": "tan",
    "shutdown": "blue",
    "skipped": "hotpink",
    "success": "green",
    "up_for_reschedule": "turquoise",
    "up_for_retry": "gold",
    "upstream_failed": "orange",
    "none": "lightblue",
}


def _datetime(value: Any) -> str:
    """Timestamps as Airflow's UI shows them: ISO 8601 in UTC, to the second."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("aerovane.www", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["datetime"] = _datetime
    env.globals["STATE_COLORS"] = STATE_COLORS
    env.globals["version"] = __version__
    return env


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    principal = current_principal(request)
    access = Access(principal)
    values = {
        "request": request,
        "principal": principal,
        "access": access,
        "menus": visible_menus(access) if principal else [],
        "csrf_token": csrf.token_for(request, principal.username or "" if principal else ""),
        "flashes": flash.take(request),
        **(context or {}),
    }
    html = environment().get_template(template).render(values)
    response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
    csrf.set_cookie(request, response)
    flash.clear(request, response)
    return response
