"""Pool responses and request bodies."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from aerovane.api.params import INT32_MAX, INT32_MIN
from aerovane.api.v1.datamodels.common import StrictModel
from aerovane.services.pools import SlotUsage


class PoolResponse(StrictModel):
    name: str
    slots: int
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int
    description: str | None
    include_deferred: bool


class PoolCollectionResponse(StrictModel):
    pools: list[PoolResponse]
    total_entries: int


class PoolBody(StrictModel):
    """POST and PATCH. The slot counts are read-only and refused; which fields are required
    depends on the operation and the update mask (see `aerovane.services.pools`)."""

    name: str | None = None
    slots: Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)] | None = None
    description: str | None = None
    include_deferred: bool | None = None


def pool_to_dict(row: Any, usage: SlotUsage | None) -> dict[str, Any]:
    """A `slot_pool` row (ORM object or row with its attribute names) and its slot usage."""
    usage = usage or SlotUsage()
    include_deferred = bool(row.include_deferred)
    return {
        "name": row.pool,
        "slots": row.slots,
        "occupied_slots": usage.occupied(include_deferred),
        "running_slots": usage.running,
        "queued_slots": usage.queued,
        "scheduled_slots": usage.scheduled,
        "open_slots": usage.open(row.slots, include_deferred),
        "deferred_slots": usage.deferred,
        "description": row.description,
        "include_deferred": include_deferred,
    }
