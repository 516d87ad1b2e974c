"""Admin > Connections: list, create, edit, delete.

The password is never shown back: the edit form's password field is empty and leaving it blank
keeps the stored one. The extra is shown with sensitive keys as `***`; saving puts the stored
values back where `***` remains (`connections.merge_masked_extra`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from aerovane.auth.permissions import READ
from aerovane.services import connections as connection_service
from aerovane.www.admin_views import Field, ModelAdmin
from aerovane.www.errors import PageRoute
from aerovane.www.forms import Form
from aerovane.www.nav import add_link

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


def _changes(values: dict[str, str]) -> dict[str, Any]:
    """Service values from the form: empty text is None; the port a number; the password only
    when one was typed."""
    port = values["port"]
    if port and not port.isdigit():
        raise ValueError("The port must be a number.")
    changes: dict[str, Any] = {
        name: values[name] or None for name in ("conn_type", "description", "host", "schema")
    }
    changes["login"] = values["login"] or None
    changes["port"] = int(port) if port else None
    changes["extra"] = values["extra"] or None
    if values["password"]:
        changes["password"] = values["password"]
    return changes


class ConnectionAdmin(ModelAdmin):
    resource = CONNECTIONS
    noun = "Connection"
    prefix = "/connection"
    event = "connection"
    key_field = "conn_id"
    list_title = "List Connection"
    columns = ("Conn Id", "Conn Type", "Description", "Host", "Port", "Is Encrypted")
    table_id = "connections"
    audit_mask = connection_service.audit_mask

    def table(
        self, *, offset: int, limit: int, search: str, session: Session
    ) -> tuple[list[list[Any]], int]:
        rows, total = connection_service.connections_page(
            offset=offset, limit=limit, search=search, session=session
        )
        return [
            [row.conn_id, row.conn_type, row.description, row.host, row.port, row.is_encrypted]
            for row in rows
        ], total

    def fields(self, values: dict[str, Any], *, editing: bool) -> list[Field]:
        return [
            Field(
                "conn_id", "Connection Id", values.get("conn_id"), required=True, readonly=editing
            ),
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

    def values(self, form: Form) -> dict[str, Any]:
        return {name: form.get(name).strip() for name in _TEXT} | {"password": form.get("password")}

    def stored_values(self, key: str, *, session: Session) -> dict[str, Any]:
        row = connection_service.get_connection(key, session=session)
        return {
            "conn_id": row.conn_id,
            "conn_type": row.conn_type or "",
            "description": row.description or "",
            "host": row.host or "",
            "schema": row.schema or "",
            "login": row.login or "",
            "port": "" if row.port is None else str(row.port),
            "extra": connection_service.public_extra(row) or "",
        }

    def stored(self, key: str, *, session: Session) -> Any:
        return connection_service.get_connection(key, session=session)

    def create(self, values: dict[str, Any], *, session: Session) -> None:
        connection_service.create_connection(values["conn_id"], _changes(values), session=session)

    def update(self, key: str, values: dict[str, Any], stored: Any, *, session: Session) -> None:
        changes = _changes(values)
        if changes["extra"] is not None:
            changes["extra"] = connection_service.merge_masked_extra(stored, changes["extra"])
        connection_service.update_connection(key, changes, session=session)

    def delete(self, key: str, *, session: Session) -> None:
        connection_service.delete_connection(key, session=session)


ConnectionAdmin().register(router)
