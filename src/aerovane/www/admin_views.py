"""The Admin pages of one kind of row, in the manner of Django admin's `ModelAdmin` (and
sqladmin's `ModelView`): `ModelAdmin` registers the list, add, edit and delete routes with their
permission checks (`requires_page_access` on its RBAC resource), CSRF-checked forms and audit
events; a subclass says only the columns, the fields and which service functions to call. Also
what the list and form templates (`admin/list.html`, `admin/form.html`) are given: form fields
and list rows.

It must not hold SQL or domain rules: those stay in `services`, called by the subclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.services.errors import ServiceError
from aerovane.www.access import Access, requires_page_access
from aerovane.www.audit import audit_page
from aerovane.www.auth import PagePrincipal
from aerovane.www.flash import redirect_with_flash
from aerovane.www.forms import Form, PostedForm
from aerovane.www.paging import Paging, page_links
from aerovane.www.templating import render

AuditMask = Callable[[dict[str, Any]], dict[str, Any]]


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


def guarded(
    action: str, resource: str, event: str | None = None, *, mask: AuditMask | None = None
) -> list[Any]:
    """A route's dependencies: the permission check, then (for a form's POST) its audit event."""
    checks = [Depends(requires_page_access(action, resource))]
    if event is not None:
        checks.append(Depends(audit_page(event, mask=mask)))
    return checks


class Refused(Exception):
    """A form the page refuses with another status than 400 (409 for a key already taken)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ModelAdmin:
    """List, add, edit and delete pages at `{prefix}/list/`, `{prefix}/add`,
    `{prefix}/edit/{key}` and `{prefix}/delete/{key}` (Airflow 2's paths), checked against
    `resource` and audited as `ui.{event}.create|edit|delete`.

    A failed save shows the form again with the service's message (400, or a `Refused`'s
    status); success redirects to the list with a flash message."""

    resource: ClassVar[str]
    noun: ClassVar[str]  # "Connection": page titles and messages
    prefix: ClassVar[str]
    event: ClassVar[str]
    #: The form field holding the key; fixed by the path when editing unless `key_editable`.
    key_field: ClassVar[str]
    key_editable: ClassVar[bool] = False
    list_title: ClassVar[str]
    columns: ClassVar[Sequence[str]]
    table_id: ClassVar[str]
    searchable: ClassVar[bool] = True
    #: Hides values in the audit rows of create and edit (names alone do not reveal them).
    audit_mask: ClassVar[AuditMask | None] = None
    #: The add form's first values.
    initial: ClassVar[dict[str, Any]] = {}

    # What a subclass says.

    def table(
        self, *, offset: int, limit: int, search: str, session: Session
    ) -> tuple[list[list[Any]], int]:
        """One page of rows, each a list of cells whose first is the row's key, and the number
        of rows in all."""
        raise NotImplementedError

    def deletable(self, key: str) -> bool:
        return True

    def fields(self, values: dict[str, Any], *, editing: bool) -> list[Field]:
        raise NotImplementedError

    def values(self, form: Form) -> dict[str, Any]:
        """The posted form's values, as `fields` shows them again."""
        raise NotImplementedError

    def stored_values(self, key: str, *, session: Session) -> dict[str, Any]:
        """The edit form's values for the stored row (a missing row: the service's 404)."""
        raise NotImplementedError

    def stored(self, key: str, *, session: Session) -> Any:
        """What `update` needs of the stored row, read before the save (a missing row there
        is a 404 page rather than the form again)."""
        return None

    def create(self, values: dict[str, Any], *, session: Session) -> None:
        raise NotImplementedError

    def update(self, key: str, values: dict[str, Any], stored: Any, *, session: Session) -> None:
        raise NotImplementedError

    def delete(self, key: str, *, session: Session) -> None:
        raise NotImplementedError

    # The pages.

    @property
    def list_path(self) -> str:
        return f"{self.prefix}/list/"

    def edit_path(self, key: str) -> str:
        return f"{self.prefix}/edit/{path_part(key)}"

    def list_page(self, request: Request, principal: Any, session: Session) -> Response:
        access = Access(principal)
        paging = Paging.of(request)
        search = request.query_params.get("q", "").strip()[:200] if self.searchable else ""
        rows, total = self.table(
            offset=paging.offset, limit=paging.size, search=search, session=session
        )
        can_edit, can_delete = access.can(EDIT, self.resource), access.can(DELETE, self.resource)
        shown = [self._row(cells, can_edit=can_edit, can_delete=can_delete) for cells in rows]
        context = {
            "title": self.list_title,
            "columns": self.columns,
            "rows": shown,
            "table_id": self.table_id,
            "create_href": f"{self.prefix}/add" if access.can(CREATE, self.resource) else None,
            "search": search if self.searchable else None,
            "links": page_links(request, paging, total),
            "intro": "",
        }
        return render(request, "admin/list.html", context)

    def _row(self, cells: list[Any], *, can_edit: bool, can_delete: bool) -> Row:
        key = cells[0]
        deletable = can_delete and self.deletable(key)
        return Row(
            key,
            cells,
            edit=self.edit_path(key) if can_edit else None,
            delete=f"{self.prefix}/delete/{path_part(key)}" if deletable else None,
        )

    def form_page(
        self,
        request: Request,
        values: dict[str, Any],
        *,
        key: str | None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        """The add form (`key` None) or the edit form of `key`."""
        editing = key is not None
        context = {
            "title": f"Edit {self.noun}" if editing else f"Add {self.noun}",
            "action": self.edit_path(key) if key is not None else f"{self.prefix}/add",
            "fields": self.fields(values, editing=editing),
            "cancel": self.list_path,
            "error": error,
        }
        return render(request, "admin/form.html", context, status=status)

    def save(self, request: Request, form: Form, key: str | None, session: Session) -> Response:
        """Create (`key` None) or update `key` from the posted form."""
        values = self.values(form)
        if key is not None and not self.key_editable:
            values[self.key_field] = key
        stored = self.stored(key, session=session) if key is not None else None
        try:
            if key is None:
                self.create(values, session=session)
            else:
                self.update(key, values, stored, session=session)
        except (ServiceError, ValueError, Refused) as exc:
            status = exc.status if isinstance(exc, Refused) else 400
            return self.form_page(request, values, key=key, error=str(exc), status=status)
        done = "saved" if key is not None else "created"
        return redirect_with_flash(self.list_path, f"{self.noun} {values[self.key_field]} {done}.")

    def register(self, router: APIRouter) -> None:
        """Add the list, add, edit and delete routes to `router`. The key's path parameter is
        named after `key_field`, as the audit log records path parameters by name."""
        admin, resource, event = self, self.resource, self.event
        mask = type(self).audit_mask
        key_path = f"{{{self.key_field}:path}}"
        edit, delete = f"{self.prefix}/edit/{key_path}", f"{self.prefix}/delete/{key_path}"

        def key_of(request: Request) -> str:
            key: str = request.path_params[admin.key_field]
            return key

        @router.get(self.list_path, dependencies=guarded(READ, resource))
        @db_handler
        def list_rows(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
            return admin.list_page(request, principal, session)

        @router.get(f"{self.prefix}/add", dependencies=guarded(CREATE, resource))
        async def add_form(request: Request) -> Response:
            return admin.form_page(request, dict(admin.initial), key=None)

        @router.post(
            f"{self.prefix}/add",
            dependencies=guarded(CREATE, resource, f"{event}.create", mask=mask),
        )
        @db_handler
        def add(request: Request, form: PostedForm, session: DbSession) -> Response:
            return admin.save(request, form, None, session)

        @router.get(edit, dependencies=guarded(EDIT, resource))
        @db_handler
        def edit_form(request: Request, session: DbSession) -> Response:
            key = key_of(request)
            return admin.form_page(request, admin.stored_values(key, session=session), key=key)

        @router.post(edit, dependencies=guarded(EDIT, resource, f"{event}.edit", mask=mask))
        @db_handler
        def save_edit(request: Request, form: PostedForm, session: DbSession) -> Response:
            return admin.save(request, form, key_of(request), session)

        @router.post(delete, dependencies=guarded(DELETE, resource, f"{event}.delete"))
        @db_handler
        def remove(request: Request, form: PostedForm, session: DbSession) -> Response:
            key = key_of(request)
            admin.delete(key, session=session)
            return redirect_with_flash(admin.list_path, f"{admin.noun} {key} deleted.")
