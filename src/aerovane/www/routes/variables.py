"""Admin > Variables: list, create, edit, delete. Values of sensitive keys are never shown
(`***`); saving such a variable with the value left blank keeps the stored one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from aerovane.auth.permissions import READ
from aerovane.services import variables as variable_service
from aerovane.services.errors import ServiceError
from aerovane.services.redaction import is_sensitive_key
from aerovane.www.admin_views import Field, ModelAdmin, Refused
from aerovane.www.errors import PageRoute
from aerovane.www.forms import Form
from aerovane.www.nav import add_link

VARIABLES = "Variables"
LIST = "/variable/list/"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Variables", LIST, (READ, VARIABLES), order=40)


def _audit_mask(body: dict[str, object]) -> dict[str, object]:
    """The form's `val` is the API's `value`: hidden unless the key is not sensitive."""
    renamed = {("value" if name == "val" else name): value for name, value in body.items()}
    return variable_service.audit_mask(renamed)


class VariableAdmin(ModelAdmin):
    resource = VARIABLES
    noun = "Variable"
    prefix = "/variable"
    event = "variable"
    key_field = "key"
    list_title = "List Variable"
    columns = ("Key", "Val", "Description", "Is Encrypted")
    table_id = "variables"
    audit_mask = _audit_mask

    def table(
        self, *, offset: int, limit: int, search: str, session: Session
    ) -> tuple[list[list[Any]], int]:
        rows, total = variable_service.variables_page(
            offset=offset, limit=limit, search=search, session=session
        )
        return [
            [row.key, variable_service.shown_value(row), row.description, row.is_encrypted]
            for row in rows
        ], total

    def fields(self, values: dict[str, Any], *, editing: bool) -> list[Field]:
        sensitive = editing and is_sensitive_key(values.get("key", ""))
        return [
            Field("key", "Key", values.get("key", ""), required=True, readonly=editing),
            Field(
                "val",
                "Val",
                "" if sensitive else values.get("val", ""),
                type="textarea",
                help="Sensitive: the value is hidden; leave blank to keep it." if sensitive else "",
            ),
            Field("description", "Description", values.get("description", ""), "textarea"),
        ]

    def values(self, form: Form) -> dict[str, Any]:
        return {name: form.get(name) for name in ("key", "val", "description")}

    def stored_values(self, key: str, *, session: Session) -> dict[str, Any]:
        row = variable_service.get_variable(key, session=session)
        return {
            "key": row.key,
            "val": variable_service.shown_value(row) or "",
            "description": row.description or "",
        }

    def create(self, values: dict[str, Any], *, session: Session) -> None:
        try:
            variable_service.get_variable(values["key"], session=session)
        except ServiceError:
            pass
        else:
            raise Refused(f"A variable with key {values['key']} already exists.", 409)
        variable_service.set_variable(
            values["key"], values["val"], description=values["description"] or None, session=session
        )

    def update(self, key: str, values: dict[str, Any], stored: Any, *, session: Session) -> None:
        changes: dict[str, str | None] = {"description": values["description"] or None}
        if values["val"] or not is_sensitive_key(key):
            changes["value"] = values["val"]
        variable_service.update_variable(key, changes, session=session)

    def delete(self, key: str, *, session: Session) -> None:
        variable_service.delete_variable(key, session=session)


VariableAdmin().register(router)
