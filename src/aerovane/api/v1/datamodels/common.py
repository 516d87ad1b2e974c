"""Shapes shared by several resources: errors, datetimes, collections."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from sqlalchemy import type_coerce
from sqlalchemy.sql.elements import ColumnElement

from aerovane.db.types import IsoText
from aerovane.db.types import iso as iso  # re-exported: every data model formats with it


class StrictModel(BaseModel):
    """Response models reject unknown keys so tests catch drift from the spec."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# -- request fields typed as Airflow's spec types them ---------------------------------------------
#
# Airflow validates request bodies against its OpenAPI document before reading them, so a JSON
# value of the wrong type is a 400 there ("0 is not of type 'boolean' - 'dry_run'"), where
# pydantic's lax mode would read `0` as False, `0` as 1970-01-01 and `null` as "not given".

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "string": (str,),
    "object": (dict,),
}
T = TypeVar("T")


def _json_type(name: str) -> BeforeValidator:
    def check(value: Any) -> Any:
        if not isinstance(value, _JSON_TYPES[name]):
            raise ValueError(f"{value!r} is not of type {name!r}")
        return value

    return BeforeValidator(check)


#: A boolean that is `true` or `false`, never `0`, `1` or `"yes"`.
JsonBool = Annotated[bool, _json_type("boolean")]
#: A string field (e.g. a date-time) that may be left out but not sent as `null` or a number.
OmittableString = Annotated[T | None, _json_type("string")]


class ErrorResponse(StrictModel):
    """RFC 7807 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def stored_datetime(column: ColumnElement[Any], name: str | None = None) -> ColumnElement[Any]:
    """`column` (a UTC datetime) read as ISO text by the database's own route (`IsoText`),
    labelled `name` (default: its own)."""
    return type_coerce(column, IsoText()).label(name or column.key)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Client specified an invalid argument."),
        (401, "Request not authenticated due to missing, invalid, authentication info."),
        (403, "Client does not have sufficient permission."),
        (404, "A specified resource is not found."),
        (409, "An existing resource conflicts with the request."),
    )
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    return {status: ERROR_RESPONSES[status] for status in statuses}
