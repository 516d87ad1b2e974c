"""Connection responses and request bodies. The password is write-only: it is accepted in
bodies and never returned; the list omits `extra` as well."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from aerovane.api.params import INT32_MAX, INT32_MIN
from aerovane.api.v1.datamodels.common import StrictModel


class ConnectionCollectionItemResponse(StrictModel):
    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    # `schema` would shadow a BaseModel attribute; the JSON name is still `schema`.
    schema_: str | None = Field(alias="schema")
    port: int | None


class ConnectionResponse(ConnectionCollectionItemResponse):
    extra: str | None


class ConnectionCollectionResponse(StrictModel):
    connections: list[ConnectionCollectionItemResponse]
    total_entries: int


class ConnectionTestResponse(StrictModel):
    status: bool
    message: str


class _ConnectionFields(StrictModel):
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    port: Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)] | None = None
    password: str | None = None
    extra: str | None = None

    def service_values(self) -> dict[str, Any]:
        """The fields the caller sent, keyed by the `connection` table's column names."""
        renames = {"connection_id": "conn_id", "schema_": "schema"}
        return {
            renames.get(name, name): value
            for name, value in self.model_dump(exclude_unset=True).items()
        }


class ConnectionBody(_ConnectionFields):
    """POST /connections and POST /connections/test."""

    connection_id: str
    conn_type: str


class ConnectionPatchBody(_ConnectionFields):
    """PATCH /connections/{id}: any subset of the fields (the id cannot change)."""

    connection_id: str | None = None
    conn_type: str | None = None

    @field_validator("conn_type")
    @classmethod
    def _type_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("Field may not be null.")
        return value


def connection_item_to_dict(row: Any) -> dict[str, Any]:
    """A `connection` row as a ConnectionCollectionItem."""
    return {
        "connection_id": row.conn_id,
        "conn_type": row.conn_type,
        "description": row.description,
        "host": row.host,
        "login": row.login,
        "schema": row.schema,
        "port": row.port,
    }


def connection_to_dict(row: Any, extra: str | None) -> dict[str, Any]:
    """A `connection` row as a Connection, with `extra` already made safe to show."""
    return {**connection_item_to_dict(row), "extra": extra}
