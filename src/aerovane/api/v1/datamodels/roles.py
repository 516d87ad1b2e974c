"""Role responses and bodies of `/roles`: `{"name", "actions": [{"action": {"name"},
"resource": {"name"}}]}`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from aerovane.api.v1.datamodels.common import StrictModel
from aerovane.auth.permissions import Perm

NOT_NULL = "Field may not be null."


class ActionBody(StrictModel):
    name: str


class ResourceBody(StrictModel):
    name: str


class ActionResourceBody(StrictModel):
    action: ActionBody
    resource: ResourceBody


class RoleResponse(StrictModel):
    name: str
    actions: list[ActionResourceBody]


class RoleCollectionResponse(StrictModel):
    roles: list[RoleResponse]
    total_entries: int


class RolePatchBody(StrictModel):
    """Any subset of `name` and `actions`; empty `{}` items in `actions` are skipped, as in
    Airflow."""

    name: str = Field(default=None, min_length=1)
    actions: list[ActionResourceBody] = Field(default=None)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError(NOT_NULL)
        return value

    @field_validator("actions", mode="before")
    @classmethod
    def _skip_empty(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in value if item != {}]
        return value

    def perms(self) -> list[Perm] | None:
        if self.actions is None:
            return None
        return [(item.action.name, item.resource.name) for item in self.actions]


class RoleBody(RolePatchBody):
    """POST: `name` is required; `actions` defaults to none."""

    name: str = Field(min_length=1)


def role_to_dict(name: str, pairs: list[Perm]) -> dict[str, Any]:
    return {
        "name": name,
        "actions": [
            {"action": {"name": action}, "resource": {"name": resource}}
            for action, resource in pairs
        ],
    }
