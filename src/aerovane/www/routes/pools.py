"""Admin > Pools: list with slot usage, create, edit, delete (`default_pool` keeps its name
and cannot be deleted: the service refuses)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.services import pools as pool_service
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

POOLS = "Pools"
LIST = "/pool/list/"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Pools", LIST, (READ, POOLS), order=50)


def _form(
    request: Request,
    values: dict[str, Any],
    *,
    editing: str | None,
    error: str = "",
    status: int = 200,
) -> Response:
    action = f"/pool/edit/{path_part(editing)}" if editing else "/pool/add"
    fields = [
        Field("name", "Pool", values.get("name"), required=True),
        Field("slots", "Slots", values.get("slots"), "number", help="-1 means unlimited."),
        Field("description", "Description", values.get("description"), "textarea"),
        Field("include_deferred", "Include Deferred", values.get("include_deferred"), "checkbox"),
    ]
    title = "Edit Pool" if editing else "Add Pool"
    context = form_context(title, action, fields, cancel=LIST, error=error)
    return render(request, "admin/form.html", context, status=status)


def _values(form: Form) -> dict[str, Any]:
    return {
        "name": form.get("name").strip(),
        "slots": form.get("slots").strip(),
        "description": form.get("description"),
        "include_deferred": form.get("include_deferred") == "on",
    }


def _service_values(values: dict[str, Any]) -> dict[str, Any]:
    slots = values["slots"]
    if not slots.lstrip("-").isdigit() or len(slots) > 10:
        raise ValueError("Slots must be a whole number (-1 for unlimited).")
    return {**values, "slots": int(slots), "description": values["description"] or None}


@router.get(LIST, dependencies=[Depends(requires_page_access(READ, POOLS))])
@db_handler
def list_pools(request: Request, principal: PagePrincipal, session: DbSession) -> Response:
    access = Access(principal)
    paging = Paging.of(request)
    rows, total = pool_service.pools_page(offset=paging.offset, limit=paging.size, session=session)
    usage = pool_service.slot_usage([row.pool for row in rows], session=session)
    shown = []
    for row in rows:
        used = usage.get(row.pool, pool_service.SlotUsage())
        open_slots = used.open(row.slots, row.include_deferred)
        shown.append(
            Row(
                row.pool,
                [
                    row.pool,
                    "unlimited" if row.slots == pool_service.UNLIMITED else row.slots,
                    used.running,
                    used.queued,
                    used.scheduled,
                    used.deferred,
                    "unlimited" if open_slots == pool_service.UNLIMITED else open_slots,
                    row.description,
                ],
                edit=f"/pool/edit/{path_part(row.pool)}" if access.can(EDIT, POOLS) else None,
                delete=f"/pool/delete/{path_part(row.pool)}"
                if access.can(DELETE, POOLS) and row.pool != pool_service.DEFAULT_POOL
                else None,
            )
        )
    context = list_context(
        "List Pools",
        ["Pool", "Slots", "Running", "Queued", "Scheduled", "Deferred", "Open", "Description"],
        shown,
        table_id="pools",
        create_href="/pool/add" if access.can(CREATE, POOLS) else None,
        links=page_links(request, paging, total),
    )
    return render(request, "admin/list.html", context)


@router.get("/pool/add", dependencies=[Depends(requires_page_access(CREATE, POOLS))])
async def add_pool_form(request: Request) -> Response:
    return _form(request, {"slots": 128}, editing=None)


@router.post(
    "/pool/add",
    dependencies=[
        Depends(requires_page_access(CREATE, POOLS)),
        Depends(audit_page("pool.create")),
    ],
)
@db_handler
def add_pool(request: Request, form: PostedForm, session: DbSession) -> Response:
    values = _values(form)
    try:
        pool_service.create_pool(_service_values(values), session=session)
    except (ServiceError, ValueError) as exc:
        return _form(request, values, editing=None, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"Pool {values['name']} created.")


@router.get("/pool/edit/{name:path}", dependencies=[Depends(requires_page_access(EDIT, POOLS))])
@db_handler
def edit_pool_form(request: Request, name: str, session: DbSession) -> Response:
    row = pool_service.get_pool(name, session=session)
    values = {
        "name": row.pool,
        "slots": row.slots,
        "description": row.description or "",
        "include_deferred": row.include_deferred,
    }
    return _form(request, values, editing=name)


@router.post(
    "/pool/edit/{name:path}",
    dependencies=[
        Depends(requires_page_access(EDIT, POOLS)),
        Depends(audit_page("pool.edit")),
    ],
)
@db_handler
def edit_pool(request: Request, name: str, form: PostedForm, session: DbSession) -> Response:
    values = _values(form)
    try:
        pool_service.update_pool(name, _service_values(values), session=session)
    except (ServiceError, ValueError) as exc:
        return _form(request, values, editing=name, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"Pool {values['name']} saved.")


@router.post(
    "/pool/delete/{name:path}",
    dependencies=[
        Depends(requires_page_access(DELETE, POOLS)),
        Depends(audit_page("pool.delete")),
    ],
)
@db_handler
def delete_pool(request: Request, name: str, form: PostedForm, session: DbSession) -> Response:
    pool_service.delete_pool(name, session=session)
    return redirect_with_flash(LIST, f"Pool {name} deleted.")
