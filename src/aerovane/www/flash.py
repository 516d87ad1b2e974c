"""One-shot messages shown on the next page ("User ... created"), carried in a short-lived
cookie by the redirect after a successful form (post/redirect/get). The text is autoescaped
when shown, so a cookie set by someone else can only show harmless text."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "aerovane_flash"
KINDS = ("success", "error", "info")


def redirect_with_flash(url: str, text: str, kind: str = "success") -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    value = quote(json.dumps({"kind": kind, "text": text[:500]}))
    response.set_cookie(COOKIE, value, max_age=60, httponly=True, samesite="lax", path="/")
    return response


def take(request: Request) -> list[dict[str, str]]:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        data = json.loads(unquote(raw))
    except ValueError:
        return []
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        return []
    return [{"kind": str(data["kind"]), "text": str(data.get("text", ""))}]


def clear(request: Request, response: Response) -> None:
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/")
