"""Reading a posted HTML form (`application/x-www-form-urlencoded`), CSRF-checked.

The request body limit of the API (`RequestBodyMiddleware`) bounds it. Multipart bodies are not
accepted: no page uploads files.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request

from aerovane.www import csrf
from aerovane.www.auth import PagePrincipal
from aerovane.www.errors import PageError

_MAX_FIELDS = 1000


class Form:
    """The fields of a posted form; repeated names (checkboxes, multi-selects) keep all."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        for key, value in self._pairs:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self._pairs)

    def as_dict(self) -> dict[str, str | list[str]]:
        """Every field but the CSRF token; repeated names as lists (for the audit log)."""
        out: dict[str, str | list[str]] = {}
        for key, value in self._pairs:
            if key == csrf.FIELD:
                continue
            if key in out:
                previous = out[key]
                out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                out[key] = value
        return out


async def parse_form(request: Request) -> Form:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise PageError(400, "Forms must be posted as application/x-www-form-urlencoded.")
    body = await request.body()
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=_MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "The form could not be read.") from None
    return Form(pairs)


async def checked_form(request: Request, principal: PagePrincipal) -> Form:
    """The posted form, after its CSRF token was checked against the person posting."""
    form = await parse_form(request)
    submitted = request.headers.get(csrf.HEADER) or form.get(csrf.FIELD)
    if not csrf.is_valid(request, principal.username or "", submitted):
        raise PageError(403, "The form has expired or did not come from this site; reload it.")
    return form


PostedForm = Annotated[Form, Depends(checked_form)]
