"""Shapes shared by several resources: errors, datetimes, collections."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Response models reject unknown keys so tests catch drift from the spec."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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
