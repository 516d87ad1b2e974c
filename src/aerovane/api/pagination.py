"""Paging and sorting of list endpoints: `limit`, `offset` and `order_by`, by Airflow's rules.

`limit` above `[api] maximum_page_limit` is clamped to it, `0` means `[api] fallback_page_limit`
and a negative value is a 400; `offset` must not be negative. `order_by` names one allowed field,
`-` in front for descending; a tie-breaker (the primary key) keeps pages stable.

Hot lists build their statements once per shape (`prepared_page`): building a SELECT and hashing
it for SQLAlchemy's compiled-statement cache costs several times running it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import Row, Select, bindparam, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from aerovane.api.errors import ApiError
from aerovane.config import get_settings

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int


def check_limit(limit: int) -> int:
    settings = get_settings()
    maximum = settings.getint("api", "maximum_page_limit")
    if limit < 0:
        message = "Page limit must be a positive integer"
        raise ApiError(400, message, title=message)
    if limit == 0:
        return settings.getint("api", "fallback_page_limit")
    if limit > maximum:
        log.debug("limit %d above [api] maximum_page_limit; using %d", limit, maximum)
        return maximum
    return limit


#: The largest OFFSET either database accepts (a signed 64-bit integer).
MAX_OFFSET = 2**63 - 1


def check_offset(offset: int) -> int:
    if offset < 0:
        raise ApiError(400, f"{offset} is less than the minimum of 0 - 'offset'")
    if offset > MAX_OFFSET:
        raise ApiError(400, f"{offset} is greater than the maximum of {MAX_OFFSET} - 'offset'")
    return offset


async def pagination(
    limit: Annotated[int, Query(description="The numbers of items to return.")] = DEFAULT_LIMIT,
    offset: Annotated[
        int, Query(description="The number of items to skip before starting to collect.")
    ] = 0,
) -> Page:
    return Page(limit=check_limit(limit), offset=check_offset(offset))


PageParams = Annotated[Page, Depends(pagination)]


def order_by_clauses(
    order_by: str | None,
    *,
    allowed: Mapping[str, ColumnElement[Any]],
    default: str,
    tiebreakers: Sequence[ColumnElement[Any]] = (),
) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for an `order_by` parameter; 400 for a field that is not allowed."""
    value = (order_by or "").strip() or default
    descending = value.startswith("-")
    name = value.lstrip("-")
    column = allowed.get(name)
    if column is None:
        raise ApiError(
            400,
            f"Ordering with '{name}' is disallowed or the attribute does not exist on the model",
        )
    clauses = [column.desc() if descending else column.asc()]
    for extra in tiebreakers:
        if extra is not column:
            clauses.append(extra.desc() if descending else extra.asc())
    return clauses


def fetch_page(
    session: Session,
    query: Select[Any],
    page: Page,
    order: Sequence[ColumnElement[Any]],
) -> tuple[list[Row[Any]], int]:
    """One page of `query` and the total before paging.

    The page is read first; the COUNT query runs only when the page does not already tell the
    total (a full page, or an empty page past the start).
    """
    rows = list(session.execute(query.order_by(*order).offset(page.offset).limit(page.limit)).all())
    if 0 < len(rows) < page.limit or (not rows and page.offset == 0):
        return rows, page.offset + len(rows)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return rows, int(total or 0)


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """The page and COUNT statements of one shape of list query; every value a request
    supplies is a bound parameter, the page's as `page_offset_` and `page_limit_`."""

    page: Select[Any]
    count: Select[Any]
    #: What `prepared_page` was asked for (names the list in `large_totals`).
    shape: Hashable = None


_prepared: dict[Hashable, PreparedPage] = {}
_prepared_lock = threading.Lock()
_MAX_PREPARED = 1024


def prepared_page(
    shape: Hashable, build: Callable[[], tuple[Select[Any], Sequence[ColumnElement[Any]]]]
) -> PreparedPage:
    """The statements for `shape` (everything that changes the SQL: which filters, which order,
    which dialect), from `build()` -> (filtered query, ORDER BY) the first time."""
    prepared = _prepared.get(shape)
    if prepared is None:
        query, order = build()
        prepared = PreparedPage(
            page=query.order_by(*order)
            .offset(bindparam("page_offset_"))
            .limit(bindparam("page_limit_")),
            # Counting needs the filters, not the columns (one may be a per-row subquery).
            count=select(func.count()).select_from(
                query.with_only_columns(*query.selected_columns[:1]).order_by(None).subquery()
            ),
            shape=shape,
        )
        with _prepared_lock:
            if len(_prepared) >= _MAX_PREPARED:
                _prepared.clear()
            _prepared[shape] = prepared
    return prepared


def fetch_prepared_page(
    session: Session, prepared: PreparedPage, params: Mapping[str, Any], page: Page
) -> tuple[list[Row[Any]], int]:
    """`fetch_page` for prepared statements and their parameters; a large total may come
    from `large_totals` (decision 0023)."""
    bound = {**params, "page_offset_": page.offset, "page_limit_": page.limit}
    rows = list(session.execute(prepared.page, bound).all())
    if 0 < len(rows) < page.limit or (not rows and page.offset == 0):
        return rows, page.offset + len(rows)
    key = (prepared.shape, repr(sorted(params.items())))
    total = large_totals.get(key)
    if total is None or total < page.offset + len(rows):
        total = int(session.scalar(prepared.count, dict(params)) or 0)
        large_totals.put(key, total)
    return rows, total


class LargeTotals:
    """`total_entries` of lists of at least `min_rows` rows, kept `seconds` per process.

    Counting a list is a scan of every matching row (a COUNT over 100,000 runs costs many times
    the page itself), while a total that large already drifts while a client pages through it.
    Smaller totals are never kept, so every list a person reads whole stays exact."""

    def __init__(self, *, min_rows: int = 10_000, seconds: float = 10.0, size: int = 256) -> None:
        self.min_rows, self.seconds, self.size = min_rows, seconds, size
        self.clock: Callable[[], float] = time.monotonic
        self._totals: dict[Hashable, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> int | None:
        kept = self._totals.get(key)
        if kept is None or kept[0] <= self.clock():
            return None
        return kept[1]

    def put(self, key: Hashable, total: int) -> None:
        with self._lock:
            if total < self.min_rows:
                self._totals.pop(key, None)
                return
            if len(self._totals) >= self.size:
                self._totals.clear()
            self._totals[key] = (self.clock() + self.seconds, total)


large_totals = LargeTotals()
