"""Column types shared by the models, and `IsoText`, a UTC datetime read as ISO text on any
dialect (for hot lists)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type, so values are stored as naive UTC and made aware again on the
    way out; naive input is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given; Aerovane stores aware UTC only")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


#: The range of a 64-bit signed integer, the widest integer any backend stores.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def storable_integers(*numbers: int) -> bool:
    """Whether every number fits a database integer. SQLite's driver raises OverflowError on
    binding a wider one; no row can hold one, so a lookup by it finds nothing."""
    return all(INT64_MIN <= n <= INT64_MAX for n in numbers)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    """ISO-8601 with the `+00:00` offset (datetimes from the DB are already aware UTC)."""
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat()


_SQLITE_DATETIME = sqlite.DATETIME().result_processor(sqlite.dialect(), None)


def sqlite_iso(stored: str | None) -> str | None:
    """`iso` of a UTC datetime column read as the text SQLite stores.

    SQLAlchemy writes `YYYY-MM-DD HH:MM:SS.ffffff`; that form becomes ISO text by slicing,
    which skips parsing to a datetime and formatting it again (most of the cost of listing
    100 runs). Anything else is parsed as SQLAlchemy would parse it."""
    if stored is None:
        return None
    if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        if stored.endswith("000000"):  # isoformat() leaves out a zero fraction
            return f"{stored[:10]}T{stored[11:19]}+00:00"
        return f"{stored[:10]}T{stored[11:]}+00:00"
    assert _SQLITE_DATETIME is not None
    return iso(_SQLITE_DATETIME(stored).replace(tzinfo=dt.UTC))


class IsoText(TypeDecorator[str]):
    """A `UtcDateTime` column read straight into ISO-8601 text (`type_coerce(column,
    IsoText())`), so a list query is written once for every dialect: the database renders the
    column as the text SQLite stores (`functions.stored_text`: the column itself on SQLite,
    `to_char` in UTC on PostgreSQL) and `sqlite_iso` slices it into ISO; no driver builds a
    datetime only for it to be formatted again."""

    impl = String
    cache_ok = True

    def column_expression(self, column: Any) -> Any:
        from aerovane.db.functions import stored_text

        expression = stored_text(column)
        expression.type = self  # read back through `result_processor`
        return expression

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], str | None]:
        return sqlite_iso
