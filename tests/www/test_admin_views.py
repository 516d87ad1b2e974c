"""The Admin pages `ModelAdmin` serves (Variables, Pools, Connections) over HTTP: what a failed
save answers, what the list offers to whom, and the audit rows the forms leave."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services import variables as variable_service
from tests.www.conftest import Browserish


def _audit(prefix: str) -> list[tuple[str, dict[str, object]]]:
    """The audit rows of events starting with `prefix`, their extra without the request id
    every page request's row carries (tests/logs covers it)."""
    with create_session(readonly=True) as session:
        rows = session.scalars(select(models.EventLog).order_by(models.EventLog.id))
        found = [r for r in rows if r.event.startswith(prefix)]
        extras = [(r.event, json.loads(r.extra or "{}")) for r in found]
    for _, extra in extras:
        assert isinstance(extra.pop("request_id"), str)
    return extras


def test_variable_pages_refuse_a_taken_key_and_keep_a_hidden_value(
    signed_in: Callable[[str], Browserish],
) -> None:
    admin = signed_in("Admin")
    fields = {"key": "api_password", "val": "hush", "description": ""}
    created = admin.post_form("/variable/add", "/variable/add", fields)
    assert (created.status_code, created.headers["location"]) == (303, "/variable/list/")
    again = admin.post_form("/variable/add", "/variable/add", fields)
    assert again.status_code == 409
    assert "A variable with key api_password already exists." in again.text
    form = admin.get("/variable/edit/api_password")
    assert "hush" not in form.text and 'action="/variable/edit/api_password"' in form.text
    page = "/variable/edit/api_password"
    saved = admin.post_form(page, page, {"val": "", "description": "d"})
    assert saved.status_code == 303
    assert "Variable api_password saved." in admin.get("/variable/list/").text
    with create_session(readonly=True) as session:
        row = variable_service.get_variable("api_password", session=session)
        assert (variable_service.stored_value(row), row.description) == ("hush", "d")
    missing = admin.post_form(page, "/variable/edit/missing", {"val": "x"})
    assert missing.status_code == 400 and "Edit Variable" in missing.text
    assert admin.post_form(page, "/variable/delete/api_password", {}).status_code == 303
    events = _audit("ui.variable.")
    assert [event for event, _ in events] == [
        "ui.variable.create",
        "ui.variable.create",
        "ui.variable.edit",
        "ui.variable.edit",
        "ui.variable.delete",
    ]
    # The path's key is recorded under its own name; a sensitive value never is.
    assert events[2][1]["key"] == "api_password" and "hush" not in json.dumps(events)


def test_pool_and_connection_pages_answer_like_before(
    signed_in: Callable[[str], Browserish],
) -> None:
    admin, viewer = signed_in("Admin"), signed_in("Viewer")
    listed = admin.get("/pool/list/").text
    default_row = listed.split('data-key="default_pool"', 1)[1].split("</tr>", 1)[0]
    assert 'href="/pool/edit/default_pool"' in default_row and "Delete" not in default_row
    assert 'href="/pool/add"' in listed and 'name="q"' not in listed
    seen = viewer.get("/pool/list/").text
    assert 'data-key="default_pool"' in seen and "/pool/edit/" not in seen
    assert "/pool/add" not in seen
    fields = {"name": "p1", "slots": "x", "description": ""}
    bad = admin.post_form("/pool/add", "/pool/add", fields)
    assert bad.status_code == 400 and "Slots must be a whole number" in bad.text
    fields["slots"] = "3"
    assert admin.post_form("/pool/add", "/pool/add", fields).status_code == 303
    renamed = admin.post_form("/pool/edit/p1", "/pool/edit/p1", {**fields, "name": "p2"})
    assert renamed.status_code == 303
    assert "Pool p2 saved." in admin.get("/pool/list/").text
    assert _audit("ui.pool.edit")[0][1] == {"name": "p2", "slots": "3", "description": ""}
    # A connection's edit reads the stored row first: a missing one is a 404 page.
    gone = admin.post_form("/connection/list/", "/connection/edit/nope", {"conn_type": "http"})
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/html")
    assert admin.post_form("/connection/list/", "/connection/delete/nope", {}).status_code == 404
    # The audit row names the path's key as the route does (`conn_id`, as Airflow's).
    assert _audit("ui.connection.delete") == [("ui.connection.delete", {"conn_id": "nope"})]
    refused = viewer.post_form("/pool/list/", "/pool/add", fields)
    assert refused.status_code == 403
