"""Audit log rows for what people do in the web UI, written like the API's (`api.deps`).

`audit_page("variable.edit")` is a dependency of a form's POST route: once access was granted
and the CSRF token checked, an EventLog row `ui.<event>` owned by the person is queued for the
request's transaction (written on its own if that fails). Field names that look secret are
redacted; `mask` hides values that names alone do not reveal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from aerovane.api.deps import DbSession, record_event
from aerovane.www.auth import PagePrincipal
from aerovane.www.forms import PostedForm


def audit_page(
    event: str, *, mask: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> Callable[..., Any]:
    async def record(
        request: Request, principal: PagePrincipal, form: PostedForm, session: DbSession
    ) -> None:
        await record_event(
            request, principal, f"ui.{event}", body=form.as_dict(), mask=mask, session=session
        )

    record.__name__ = f"audit_page_{event}"
    return record
