"""User responses and the POST / PATCH bodies of `/users` (FAB's user API).

Responses use the key `fail_login_count`, as Airflow's server does (its spec says
`failed_login_count`). `password` is write-only: accepted in bodies, never returned. Read-only
fields (`active`, `login_count`, ...) are refused in bodies, as Airflow's schema refuses them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, field_validator

from aerovane.api.v1.datamodels.common import StrictModel, iso

NOT_NULL = "Field may not be null."


class RoleNameBody(StrictModel):
    name: str


class UserResponse(StrictModel):
    first_name: str
    last_name: str
    username: str
    email: str
    active: bool | None
    last_login: str | None
    login_count: int | None
    fail_login_count: int | None
    roles: list[RoleNameBody]
    created_on: str | None
    changed_on: str | None


class UserCollectionResponse(StrictModel):
    users: list[UserResponse]
    total_entries: int


class UserPatchBody(StrictModel):
    """The writable User fields; any subset may be given (null is refused)."""

    username: str = Field(default=None, min_length=1)
    email: str = Field(default=None, min_length=1)
    first_name: str = Field(default=None)
    last_name: str = Field(default=None)
    roles: list[RoleNameBody] = Field(default=None)
    password: str = Field(default=None)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError(NOT_NULL)
        return value

    def changes(self) -> dict[str, Any]:
        """The given fields, with `roles` as a list of role names."""
        values = self.model_dump(exclude_unset=True)
        if "roles" in values:
            values["roles"] = [role["name"] for role in values["roles"]]
        return values


class UserBody(UserPatchBody):
    """POST: `username`, `email`, `first_name` and `last_name` are required."""

    username: str = Field(min_length=1)
    email: str = Field(min_length=1)
    first_name: str
    last_name: str


def _datetime(value: dt.datetime | None) -> str | None:
    return iso(value)


def user_to_dict(user: Any) -> dict[str, Any]:
    """A `models.User` (roles loaded) as a User response."""
    return {
        "first_name": user.first_name or "",
        "last_name": user.last_name or "",
        "username": user.username,
        "email": user.email,
        "active": user.active,
        "last_login": _datetime(user.last_login),
        "login_count": user.login_count,
        "fail_login_count": user.fail_login_count,
        "roles": [{"name": role.name} for role in sorted(user.roles, key=lambda r: r.name)],
        "created_on": _datetime(user.created_on),
        "changed_on": _datetime(user.changed_on),
    }
