"""SQL functions spelled differently by each dialect, so that queries above `db` are written
once and never ask which database they run on (decision 0029).

Must not: hold queries; only expressions that compile per dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class json_array_agg(FunctionElement[Any]):
    """The group's values of one column as a JSON array: sorted by the database on PostgreSQL
    (`json_agg(x ORDER BY x)`, its collation), in no particular order on SQLite
    (`json_group_array`), whose JSON text the reader parses and sorts."""

    name = "json_array_agg"
    inherit_cache = True


@compiles(json_array_agg)
def _json_array_agg(element: json_array_agg, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(json_array_agg, "postgresql")
def _json_array_agg_postgresql(element: json_array_agg, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"json_agg({value} ORDER BY {value})"


class stored_text(FunctionElement[str]):
    """A UTC datetime column as the text SQLite stores (`YYYY-MM-DD HH:MM:SS.ffffff`): the
    column itself on SQLite, rendered in that form by PostgreSQL (in UTC whatever the session's
    zone), so no driver builds datetimes only for them to be formatted again (`IsoText`)."""

    name = "stored_text"
    inherit_cache = True
    type = String()


@compiles(stored_text)
def _stored_text(element: stored_text, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(stored_text, "postgresql")
def _stored_text_postgresql(element: stored_text, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"to_char(timezone('UTC', {value}), 'YYYY-MM-DD HH24:MI:SS.US')"
