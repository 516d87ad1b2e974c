"""`/permissions` responses: the actions that exist (`can_read`, `menu_access`, ...)."""

from __future__ import annotations

from aerovane.api.v1.datamodels.common import StrictModel


class ActionResponse(StrictModel):
    name: str


class ActionCollectionResponse(StrictModel):
    actions: list[ActionResponse]
    total_entries: int
