"""What the DAG list page (`/home`) shows: one page of DAGs with their tags, recent runs' states,
run counts per state and next run, the filters' choices and the import-error count.

A page costs a fixed number of queries whatever its size or the number of DAGs (no query per
DAG): the page, its total, its tags, its recent runs, its run counts, the tag and owner
choices and the import errors. Plain functions over a session the caller owns; no HTML here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select

from aerovane.db import models
from aerovane.services.import_errors import import_error_query
from aerovane.states import DagRunState

#: How many of each DAG's newest runs the page shows as coloured dots.
RECENT_RUNS = 5
#: The most DAGs one page may show.
MAX_PAGE_SIZE = 100
_CHOICES_LIMIT = 500

DAG_TABLE = models.DagModel.__table__
DAG = DAG_TABLE.c
TAG = models.DagTag.__table__.c
RUN = models.DagRun.__table__.c


@dataclass(frozen=True, slots=True)
class DagListFilter:
    search: str = ""
    tags: tuple[str, ...] = ()
    owner: str = ""
    #: None: all; True: only paused; False: only active (unpaused).
    paused: bool | None = None
    #: DAG ids the caller may read; None means every DAG.
    readable: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class RecentRun:
    run_id: str
    state: str
    logical_date: dt.datetime


@dataclass(slots=True)
class DagListItem:
    dag_id: str
    display_name: str
    is_paused: bool
    owners: list[str]
    description: str | None
    schedule: str
    schedule_description: str
    next_dagrun: dt.datetime | None
    next_dagrun_create_after: dt.datetime | None
    fileloc: str
    has_import_errors: bool
    tags: list[str] = field(default_factory=list)
    #: Newest first, at most `RECENT_RUNS`.
    recent_runs: list[RecentRun] = field(default_factory=list)
    #: Every run state with its count (zeros included).
    run_counts: dict[str, int] = field(default_factory=dict)

    @property
    def last_run(self) -> RecentRun | None:
        return self.recent_runs[0] if self.recent_runs else None


@dataclass(frozen=True, slots=True)
class DagListPage:
    items: list[DagListItem]
    total: int
    offset: int
    limit: int
    all_tags: list[str]
    all_owners: list[str]
    import_error_count: int


def _filtered(query: Any, filters: DagListFilter) -> Any:
    query = query.where(DAG.is_active.is_(True))
    if filters.readable is not None:
        query = query.where(DAG.dag_id.in_(sorted(filters.readable)))
    if filters.search:
        pattern = f"%{filters.search}%"
        query = query.where(or_(DAG.dag_id.ilike(pattern), DAG.dag_display_name.ilike(pattern)))
    if filters.owner:
        query = query.where(DAG.owners.ilike(f"%{filters.owner}%"))
    if filters.paused is not None:
        query = query.where(DAG.is_paused.is_(filters.paused))
    if filters.tags:
        tagged = select(TAG.dag_id).where(TAG.name.in_(filters.tags))
        query = query.where(DAG.dag_id.in_(tagged))
    return query


def _schedule(row: Any) -> str:
    """What Airflow's list shows in its Schedule column: the schedule as written."""
    value = row.schedule_interval
    if isinstance(value, dict):
        if value.get("__type") == "TimeDelta":
            return str(dt.timedelta(**{k: v for k, v in value.items() if k in _DELTA_KEYS}))
        return str(value.get("value", value.get("__type", "")))
    if row.dataset_expression is not None:
        return "Dataset"
    return "None"


_DELTA_KEYS = frozenset({"days", "seconds", "microseconds"})


def dag_list_page(
    filters: DagListFilter, *, offset: int = 0, limit: int = 25, session: Any
) -> DagListPage:
    """One page of DAGs ordered by id, with everything the list page shows about them."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    total = session.scalar(_filtered(select(func.count()).select_from(DAG_TABLE), filters)) or 0
    rows = session.execute(
        _filtered(select(*DAG_TABLE.columns), filters)
        .order_by(DAG.dag_id)
        .offset(offset)
        .limit(limit)
    ).all()
    items = [
        DagListItem(
            dag_id=row.dag_id,
            display_name=row.dag_display_name or row.dag_id,
            is_paused=bool(row.is_paused),
            owners=[o.strip() for o in (row.owners or "").split(",") if o.strip()],
            description=row.description,
            schedule=_schedule(row),
            schedule_description=row.timetable_description or "",
            next_dagrun=row.next_dagrun,
            next_dagrun_create_after=row.next_dagrun_create_after,
            fileloc=row.fileloc,
            has_import_errors=bool(row.has_import_errors),
        )
        for row in rows
    ]
    by_id = {item.dag_id: item for item in items}
    ids = list(by_id)
    if ids:
        for dag_id, name in session.execute(
            select(TAG.dag_id, TAG.name).where(TAG.dag_id.in_(ids)).order_by(TAG.dag_id, TAG.name)
        ):
            by_id[dag_id].tags.append(name)
        for item in items:
            item.run_counts = {state.value: 0 for state in DagRunState}
        for dag_id, state, count in session.execute(
            select(RUN.dag_id, RUN.state, func.count())
            .where(RUN.dag_id.in_(ids))
            .group_by(RUN.dag_id, RUN.state)
        ):
            by_id[dag_id].run_counts[state] = count
        position = (
            func.row_number()
            .over(partition_by=RUN.dag_id, order_by=RUN.execution_date.desc())
            .label("position")
        )
        ranked = (
            select(RUN.dag_id, RUN.run_id, RUN.state, RUN.execution_date, position)
            .where(RUN.dag_id.in_(ids))
            .subquery()
        )
        for dag_id, run_id, state, logical_date, _ in session.execute(
            select(ranked)
            .where(ranked.c.position <= RECENT_RUNS)
            .order_by(ranked.c.dag_id, ranked.c.position)
        ):
            by_id[dag_id].recent_runs.append(RecentRun(run_id, state, logical_date))
    visible = _filtered(select(DAG.dag_id), DagListFilter(readable=filters.readable))
    all_tags = list(
        session.scalars(
            select(TAG.name)
            .where(TAG.dag_id.in_(visible))
            .distinct()
            .order_by(TAG.name)
            .limit(_CHOICES_LIMIT)
        )
    )
    owners: set[str] = set()
    for value in session.scalars(
        _filtered(select(DAG.owners), DagListFilter(readable=filters.readable))
        .distinct()
        .limit(_CHOICES_LIMIT)
    ):
        owners.update(o.strip() for o in (value or "").split(",") if o.strip())
    errors = import_error_query(filters.readable).subquery()
    error_count = session.scalar(select(func.count()).select_from(errors)) or 0
    return DagListPage(
        items=items,
        total=total,
        offset=offset,
        limit=limit,
        all_tags=all_tags,
        all_owners=sorted(owners),
        import_error_count=error_count,
    )
