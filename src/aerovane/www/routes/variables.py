"""Admin > Variables: list, create, edit, delete. Values of sensitive keys are never shown
(`***`); saving such a variable with the value left blank keeps the stored one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.services import variables as variable_service
from aerovane.services.errors import ServiceError
from aerovane.services.redaction import is_sensitive_key
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

VARIABLES = "Variables"
LIST = "/variable/list/"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Variables", LIST, (READ, VARIABLES), order=40)


def _audit_mask(body: dict[str, object]) -> dict[str, object]:
    """The form's `val` is the API's `value`: hidden unless the key is not sensitive."""
    renamed = {("value" if name == "val" else name): value for name, value in body.items()}
    return variable_service.audit_mask(renamed)


def _fields(form_values: dict[str, str], *, key_readonly: bool, sensitive: bool) -> list[Field]:
    return [
        Field("key", "Key", form_values.get("key", ""), required=True, readonly=key_readonly),
        Field(
            "val",
            "Val",
            "" if sensitive else form_values.get("val", ""),
            type="textarea",
            help="Sensitive: the value is hidden; leave blank to keep it." if sensitive else "",
        ),
        Field("description", "Description", form_values.get("description", ""), "textarea"),
    ]


def _form(
    request: Request,
    action: str,
    values: dict[str, str],
    *,
    editing: bool,
    error: str = "",
    status: int = 200,
) -> Response:
    sensitive = editing and is_sensitive_key(values.get("key", ""))
    title = "Edit Variable" if editing else "Add Variable"
    fields = _fields(values, key_readonly=editing, sensitive=sensitive)
    context = form_context(title, action, fields, cancel=LIST, error=error)
    return render(request, "admin/form.html", context, status=status)


def _values(form: Form) -> dict[str, str]:
    return {name: form.get(name) for name in ("key", "val", "description")}


@router.get(LIST, dependencies=[Depends(requires_page_access(READ, VARIABLES))])
@db_handler
def list_variables(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    access = Access(principal)
    paging = Paging.of(request)
    search = request.query_params.get("q", "").strip()[:200]
    rows, total = variable_service.variables_page(
        offset=paging.offset, limit=paging.size, search=search, session=session
    )
    shown = [
        Row(
            row.key,
            [row.key, variable_service.shown_value(row), row.description, row.is_encrypted],
            edit=f"/variable/edit/{path_part(row.key)}" if access.can(EDIT, VARIABLES) else None,
            delete=f"/variable/delete/{path_part(row.key)}"
            if access.can(DELETE, VARIABLES)
            else None,
        )
        for row in rows
    ]
    context = list_context(
        "List Variable",
        ["Key", "Val", "Description", "Is Encrypted"],
        shown,
        table_id="variables",
        create_href="/variable/add" if access.can(CREATE, VARIABLES) else None,
        search=search,
        links=page_links(request, paging, total),
    )
    return render(request, "admin/list.html", context)


@router.get("/variable/add", dependencies=[Depends(requires_page_access(CREATE, VARIABLES))])
async def add_variable_form(request: Request) -> Response:
    return _form(request, "/variable/add", {}, editing=False)


@router.post(
    "/variable/add",
    dependencies=[
        Depends(requires_page_access(CREATE, VARIABLES)),
        Depends(audit_page("variable.create", mask=_audit_mask)),
    ],
)
@db_handler
def add_variable(request: Request, form: PostedForm, session: DbSession) -> Response:
    values = _values(form)
    try:
        variable_service.get_variable(values["key"], session=session)
    except ServiceError:
        pass
    else:
        return _form(
            request,
            "/variable/add",
            values,
            editing=False,
            error=f"A variable with key {values['key']} already exists.",
            status=409,
        )
    try:
        variable_service.set_variable(
            values["key"], values["val"], description=values["description"] or None, session=session
        )
    except ServiceError as exc:
        return _form(request, "/variable/add", values, editing=False, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"Variable {values['key']} created.")


def _edit_action(key: str) -> str:
    return f"/variable/edit/{path_part(key)}"


@router.get(
    "/variable/edit/{key:path}", dependencies=[Depends(requires_page_access(EDIT, VARIABLES))]
)
@db_handler
def edit_variable_form(request: Request, key: str, session: DbSession) -> Response:
    row = variable_service.get_variable(key, session=session)
    values = {
        "key": row.key,
        "val": variable_service.shown_value(row) or "",
        "description": row.description or "",
    }
    return _form(request, _edit_action(key), values, editing=True)


@router.post(
    "/variable/edit/{key:path}",
    dependencies=[
        Depends(requires_page_access(EDIT, VARIABLES)),
        Depends(audit_page("variable.edit", mask=_audit_mask)),
    ],
)
@db_handler
def edit_variable(request: Request, key: str, form: PostedForm, session: DbSession) -> Response:
    values = {**_values(form), "key": key}
    changes: dict[str, str | None] = {"description": values["description"] or None}
    if values["val"] or not is_sensitive_key(key):
        changes["value"] = values["val"]
    try:
        variable_service.update_variable(key, changes, session=session)
    except ServiceError as exc:
        return _form(request, _edit_action(key), values, editing=True, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"Variable {key} saved.")


@router.post(
    "/variable/delete/{key:path}",
    dependencies=[
        Depends(requires_page_access(DELETE, VARIABLES)),
        Depends(audit_page("variable.delete")),
    ],
)
@db_handler
def delete_variable(request: Request, key: str, form: PostedForm, session: DbSession) -> Response:
    variable_service.delete_variable(key, session=session)
    return redirect_with_flash(LIST, f"Variable {key} deleted.")
