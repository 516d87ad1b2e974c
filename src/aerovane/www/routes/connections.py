"""Admin > Connections: list, create, edit, delete.

The password is never shown back: the edit form's password field is empty and leaving it blank
keeps the stored one. The extra is shown with sensitive keys as `***`; saving puts the stored
values back where `***` remains (`connections.merge_masked_extra`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.services import connections as connection_service
from aerovane.services.errors import ServiceError
from aerovane.www.access import Access, requires_page_access
from aerovane.www.admin_views import Field, Row, form_context, list_context, path_part
from aerovane.www.audit import audit_page
from aerovane.www.auth import PagePrincipal
from aerovane.www.errors import PageRoute
from aerovane.www.flash import redirect_with_flash
from aerovane.www.forms import Form, PostedForm
from aerovane.www.nav import add_link
from aerovane.www.paging import Paging, page_links
from aerovane.www.templating import render

CONNECTIONS = "Connections"
LIST = "/connection/list/"
#: Suggestions for the type field (any type may be typed, as providers add their own).
COMMON_TYPES = (
    "aws",
    "email",
    "fs",
    "ftp",
    "generic",
    "google_cloud_platform",
    "http",
    "https",
    "mysql",
    "postgres",
    "redis",
    "sftp",
    "slack",
    "sqlite",
    "ssh",
)
_TEXT = ("conn_id", "conn_type", "description", "host", "schema", "login", "port", "extra")

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Connections", LIST, (READ, CONNECTIONS), order=30)
_audit_mask = connection_service.audit_mask


def _fields(values: dict[str, str], *, editing: bool) -> list[Field]:
    return [
        Field("conn_id", "Connection Id", values.get("conn_id"), required=True, readonly=editing),
        Field(
            "conn_type",
            "Connection Type",
            values.get("conn_type"),
            required=True,
            datalist=COMMON_TYPES,
        ),
        Field("description", "Description", values.get("description"), "textarea"),
        Field("host", "Host", values.get("host")),
        Field("schema", "Schema", values.get("schema")),
        Field("login", "Login", values.get("login")),
        Field(
            "password",
            "Password",
            "",
            "password",
            help="Leave blank to keep the stored password." if editing else "",
        ),
        Field("port", "Port", values.get("port"), "number"),
        Field("extra", "Extra", values.get("extra"), "textarea", help="JSON."),
    ]


def _form(
    request: Request,
    values: dict[str, str],
    *,
    editing: bool,
    error: str = "",
    status: int = 200,
) -> Response:
    action = (
        f"/connection/edit/{path_part(values.get('conn_id', ''))}" if editing else "/connection/add"
    )
    title = "Edit Connection" if editing else "Add Connection"
    context = form_context(
        title, action, _fields(values, editing=editing), cancel=LIST, error=error
    )
    return render(request, "admin/form.html", context, status=status)


def _values(form: Form) -> dict[str, str]:
    return {name: form.get(name).strip() for name in _TEXT} | {"password": form.get("password")}


def _changes(values: dict[str, str]) -> dict[str, Any]:
    """Service values from the form: empty text is None; the port a number."""
    port = values["port"]
    if port and not port.isdigit():
        raise ValueError("The port must be a number.")
    changes: dict[str, Any] = {
        name: values[name] or None for name in ("conn_type", "description", "host", "schema")
    }
    changes["login"] = values["login"] or None
    changes["port"] = int(port) if port else None
    changes["extra"] = values["extra"] or None
    return changes


@router.get(LIST, dependencies=[Depends(requires_page_access(READ, CONNECTIONS))])
@db_handler
def list_connections(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    access = Access(principal)
    paging = Paging.of(request)
    search = request.query_params.get("q", "").strip()[:200]
    rows, total = connection_service.connections_page(
        offset=paging.offset, limit=paging.size, search=search, session=session
    )
    shown = [
        Row(
            row.conn_id,
            [row.conn_id, row.conn_type, row.description, row.host, row.port, row.is_encrypted],
            edit=f"/connection/edit/{path_part(row.conn_id)}"
            if access.can(EDIT, CONNECTIONS)
            else None,
            delete=f"/connection/delete/{path_part(row.conn_id)}"
            if access.can(DELETE, CONNECTIONS)
            else None,
        )
        for row in rows
    ]
    context = list_context(
        "List Connection",
        ["Conn Id", "Conn Type", "Description", "Host", "Port", "Is Encrypted"],
        shown,
        table_id="connections",
        create_href="/connection/add" if access.can(CREATE, CONNECTIONS) else None,
        search=search,
        links=page_links(request, paging, total),
    )
    return render(request, "admin/list.html", context)


@router.get("/connection/add", dependencies=[Depends(requires_page_access(CREATE, CONNECTIONS))])
async def add_connection_form(request: Request) -> Response:
    return _form(request, {}, editing=False)


@router.post(
    "/connection/add",
    dependencies=[
        Depends(requires_page_access(CREATE, CONNECTIONS)),
        Depends(audit_page("connection.create", mask=_audit_mask)),
    ],
)
@db_handler
def add_connection(request: Request, form: PostedForm, session: DbSession) -> Response:
    values = _values(form)
    try:
        changes = _changes(values)
        if values["password"]:
            changes["password"] = values["password"]
        connection_service.create_connection(values["conn_id"], changes, session=session)
    except (ServiceError, ValueError) as exc:
        return _form(request, values, editing=False, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"Connection {values['conn_id']} created.")


@router.get(
    "/connection/edit/{conn_id:path}",
    dependencies=[Depends(requires_page_access(EDIT, CONNECTIONS))],
)
@db_handler
def edit_connection_form(request: Request, conn_id: str, session: DbSession) -> Response:
    row = connection_service.get_connection(conn_id, session=session)
    values = {
        "conn_id": row.conn_id,
        "conn_type": row.conn_type or "",
        "description": row.description or "",
        "host": row.host or "",
        "schema": row.schema or "",
        "login": row.login or "",
        "port": "" if row.port is None else str(row.port),
        "extra": connection_service.public_extra(row) or "",
    }
    return _form(request, values, editing=True)


@router.post(
    "/connection/edit/{conn_id:path}",
    dependencies=[
        Depends(requires_page_access(EDIT, CONNECTIONS)),
        Depends(audit_page("connection.edit", mask=_audit_mask)),
    ],
)
@db_handler
def edit_connection(
    request: Request, conn_id: str, form: PostedForm, session: DbSession
) -> Response:
    values = {**_values(form), "conn_id": conn_id}
    row = connection_service.get_connection(conn_id, session=session)
    try:
        changes = _changes(values)
        if changes["extra"] is not None:
            changes["extra"] = connection_service.merge_masked_extra(row, changes["extra"])
        if values["password"]:
            changes["password"] = values["password"]
        connection_service.update_connection(conn_id, changes, session=session)
    except (ServiceError, ValueError) as exc:
        return _form(request, values, editing=True, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"Connection {conn_id} saved.")


@router.post(
    "/connection/delete/{conn_id:path}",
    dependencies=[
        Depends(requires_page_access(DELETE, CONNECTIONS)),
        Depends(audit_page("connection.delete")),
    ],
)
@db_handler
def delete_connection(
    request: Request, conn_id: str, form: PostedForm, session: DbSession
) -> Response:
    connection_service.delete_connection(conn_id, session=session)
    return redirect_with_flash(LIST, f"Connection {conn_id} deleted.")
