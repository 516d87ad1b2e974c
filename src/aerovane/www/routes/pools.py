"""Admin > Pools: list with slot usage, create, edit, delete (`default_pool` keeps its name
and cannot be deleted: the service refuses)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from aerovane.auth.permissions import READ
from aerovane.services import pools as pool_service
from aerovane.www.admin_views import Field, ModelAdmin
from aerovane.www.errors import PageRoute
from aerovane.www.forms import Form
from aerovane.www.nav import add_link

POOLS = "Pools"
LIST = "/pool/list/"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Pools", LIST, (READ, POOLS), order=50)


def _service_values(values: dict[str, Any]) -> dict[str, Any]:
    slots = values["slots"]
    if not slots.lstrip("-").isdigit() or len(slots) > 10:
        raise ValueError("Slots must be a whole number (-1 for unlimited).")
    return {**values, "slots": int(slots), "description": values["description"] or None}


def _unlimited(slots: int) -> int | str:
    return "unlimited" if slots == pool_service.UNLIMITED else slots


class PoolAdmin(ModelAdmin):
    resource = POOLS
    noun = "Pool"
    prefix = "/pool"
    event = "pool"
    key_field = "name"
    key_editable = True
    list_title = "List Pools"
    columns = ("Pool", "Slots", "Running", "Queued", "Scheduled", "Deferred", "Open", "Description")
    table_id = "pools"
    searchable = False
    initial = {"slots": 128}

    def table(
        self, *, offset: int, limit: int, search: str, session: Session
    ) -> tuple[list[list[Any]], int]:
        rows, total = pool_service.pools_page(offset=offset, limit=limit, session=session)
        usage = pool_service.slot_usage([row.pool for row in rows], session=session)
        shown = []
        for row in rows:
            used = usage.get(row.pool, pool_service.SlotUsage())
            open_slots = used.open(row.slots, row.include_deferred)
            shown.append(
                [
                    row.pool,
                    _unlimited(row.slots),
                    used.running,
                    used.queued,
                    used.scheduled,
                    used.deferred,
                    _unlimited(open_slots),
                    row.description,
                ]
            )
        return shown, total

    def deletable(self, key: str) -> bool:
        return key != pool_service.DEFAULT_POOL

    def fields(self, values: dict[str, Any], *, editing: bool) -> list[Field]:
        return [
            Field("name", "Pool", values.get("name"), required=True),
            Field("slots", "Slots", values.get("slots"), "number", help="-1 means unlimited."),
            Field("description", "Description", values.get("description"), "textarea"),
            Field(
                "include_deferred", "Include Deferred", values.get("include_deferred"), "checkbox"
            ),
        ]

    def values(self, form: Form) -> dict[str, Any]:
        return {
            "name": form.get("name").strip(),
            "slots": form.get("slots").strip(),
            "description": form.get("description"),
            "include_deferred": form.get("include_deferred") == "on",
        }

    def stored_values(self, key: str, *, session: Session) -> dict[str, Any]:
        row = pool_service.get_pool(key, session=session)
        return {
            "name": row.pool,
            "slots": row.slots,
            "description": row.description or "",
            "include_deferred": row.include_deferred,
        }

    def create(self, values: dict[str, Any], *, session: Session) -> None:
        pool_service.create_pool(_service_values(values), session=session)

    def update(self, key: str, values: dict[str, Any], stored: Any, *, session: Session) -> None:
        pool_service.update_pool(key, _service_values(values), session=session)

    def delete(self, key: str, *, session: Session) -> None:
        pool_service.delete_pool(key, session=session)


PoolAdmin().register(router)
