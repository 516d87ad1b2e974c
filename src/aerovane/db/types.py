"""Column types shared by the models."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime
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
