"""Shapes shared by several resources: errors, datetimes, collections."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from sqlalchemy import String, func, type_coerce
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.elements import ColumnElement


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


def iso(value: dt.datetime | None) -> str | None:
    """ISO-8601 with the `+00:00` offset (datetimes from the DB are already aware UTC)."""
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat()


# -- datetimes straight from the database ---------------------------------------------------------

_SQLITE_DATETIME = sqlite.DATETIME().result_processor(sqlite.dialect(), None)


def sqlite_iso(stored: str | None) -> str | None:
    """`iso` of a UTC datetime column read as text (see `stored_datetime`).

    SQLAlchemy writes `YYYY-MM-DD HH:MM:SS.ffffff` on SQLite, and PostgreSQL is asked for the
    same form; it becomes ISO text by slicing, which skips parsing to a datetime and formatting
    it again (most of the cost of listing 100 runs). Anything else is parsed as SQLAlchemy
    would parse it."""
    if stored is None:
        return None
    if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        if stored.endswith("000000"):  # isoformat() leaves out a zero fraction
            return f"{stored[:10]}T{stored[11:19]}+00:00"
        return f"{stored[:10]}T{stored[11:]}+00:00"
    assert _SQLITE_DATETIME is not None
    return iso(_SQLITE_DATETIME(stored).replace(tzinfo=dt.UTC))


#: PostgreSQL's rendering of a UTC `timestamptz` in the form SQLAlchemy stores on SQLite.
_PG_TEXT = "YYYY-MM-DD HH24:MI:SS.US"


def stored_datetime(
    column: ColumnElement[Any], dialect_name: str, name: str | None = None
) -> ColumnElement[Any]:
    """`column` (a UTC datetime) as text for `sqlite_iso`, labelled `name` (default: its own):
    as SQLite stores it, and rendered in the same form by PostgreSQL (in UTC whatever the
    session's zone), so no driver builds datetimes only for them to be formatted again;
    elsewhere the driver's aware datetimes, for `iso`."""
    label = name or column.key
    if dialect_name == "sqlite":
        return type_coerce(column, String).label(label)
    if dialect_name == "postgresql":
        return func.to_char(func.timezone("UTC", column), _PG_TEXT, type_=String).label(label)
    return column.label(label)


def iso_for(dialect_name: str) -> Callable[[Any], str | None]:
    """What turns a `stored_datetime` value into ISO text on this database."""
    return sqlite_iso if dialect_name in ("sqlite", "postgresql") else iso


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
