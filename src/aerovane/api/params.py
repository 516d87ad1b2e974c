"""Parsing of query parameters the way Airflow's API parses them.

Datetimes: a space is read back as the `+` of an offset (URL-decoding turned it into a space)
unless the value ends in `Z`; values without an offset are UTC; unparseable values are a 400
"Incorrect datetime argument". Lists: repeated parameters, and for names that can never hold
commas, comma-separated values too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from aerovane.api.errors import ApiError

#: The range of the metadata database's INTEGER columns: a larger number in a filter, path or
#: body must be a 400, never a database error.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def parse_datetime(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    text = value.strip()
    if text and text[-1] != "Z":
        text = text.replace(" ", "+")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            400,
            f"Invalid isoformat string: {value!r} - '{name}'",
            title="Incorrect datetime argument",
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def split_csv(values: Iterable[str] | None) -> list[str]:
    """`["a,b", "c"]` → `["a", "b", "c"]`, dropping empty items."""
    if not values:
        return []
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def check_fields(fields: list[str] | None, known: Iterable[str], schema: str) -> list[str] | None:
    """The `fields` selection, or a 400 naming the unknown ones (None: all fields)."""
    wanted = split_csv(fields)
    if not wanted:
        return None
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise ApiError(
            400,
            f"Invalid fields for <{schema}(many=False)>: {set(unknown)}.",
            title=f"{schema} init error",
        )
    return list(dict.fromkeys(wanted))
