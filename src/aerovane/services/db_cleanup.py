"""Purging old rows from the metadata database (Airflow's `db clean`), with an optional archive.

Each table has one recency column; rows older than the cut-off go, except that the newest
scheduled (non-external) run of each DAG stays, as Airflow keeps it so the scheduler knows
where its schedule stands. Unless told to skip it, rows are first copied into
`_airflow_deleted__<table>__<YYYYMMDDHHMMSS>`, a plain table made with the same columns.
Runs cascade to their task instances, tries, XComs and reschedules through foreign keys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, MetaData, Table, delete, false, func, insert, select
from sqlalchemy.orm import Session

from aerovane.db.models import Base

#: table -> recency column, in Airflow's `db clean` order (children may go with a parent run).
TABLES: dict[str, str] = {
    "job": "latest_heartbeat",
    "dag_run": "start_date",
    "dataset_event": "timestamp",
    "import_error": "timestamp",
    "log": "dttm",
    "sla_miss": "timestamp",
    "task_instance": "start_date",
    "task_instance_history": "start_date",
    "task_reschedule": "start_date",
    "xcom": "timestamp",
    "callback_request": "created_at",
}
ARCHIVE_PREFIX = "_airflow_deleted__"


@dataclass(frozen=True, slots=True)
class TableCleanup:
    table: str
    rows: int
    archive: str | None


def _condition(name: str, before: dt.datetime) -> object:
    table = Base.metadata.tables[name]
    older = table.c[TABLES[name]] < before
    if name != "dag_run":
        return older
    # Keep each DAG's newest scheduled run (Airflow's keep_last).
    newest = (
        select(table.c.dag_id, func.max(table.c.start_date).label("newest"))
        .where(table.c.external_trigger == false())
        .group_by(table.c.dag_id)
        .subquery()
    )
    kept = select(table.c.id).join(
        newest, (newest.c.dag_id == table.c.dag_id) & (newest.c.newest == table.c.start_date)
    )
    return older & table.c.id.not_in(kept.where(table.c.external_trigger == false()))


def count_rows(name: str, before: dt.datetime, *, session: Session) -> int:
    table = Base.metadata.tables[name]
    return session.scalar(select(func.count()).select_from(table).where(_condition(name, before)))


def clean_table(
    name: str, before: dt.datetime, *, archive: bool, now: dt.datetime, session: Session
) -> TableCleanup:
    """Delete (after archiving, if asked) the rows of `name` older than `before`."""
    table = Base.metadata.tables[name]
    condition = _condition(name, before)
    archive_name = None
    if archive and count_rows(name, before, session=session):
        archive_name = f"{ARCHIVE_PREFIX}{name}__{now:%Y%m%d%H%M%S}"
        copy = Table(archive_name, MetaData(), *(Column(c.name, c.type) for c in table.columns))
        copy.create(bind=session.connection())
        columns = [c.name for c in table.columns]
        session.execute(insert(copy).from_select(columns, select(table).where(condition)))
    result = session.execute(delete(table).where(condition))
    return TableCleanup(name, result.rowcount, archive_name)


def archive_tables(*, session: Session, tables: list[str] | None = None) -> list[str]:
    """Names of the archive tables `clean_table` made (of `tables` only, if given), sorted."""
    from sqlalchemy import inspect

    names = inspect(session.connection()).get_table_names()
    found = []
    for name in sorted(names):
        if not name.startswith(ARCHIVE_PREFIX):
            continue
        source = name[len(ARCHIVE_PREFIX) :].rsplit("__", 1)[0]
        if tables is None or source in tables:
            found.append(name)
    return found


def drop_archive_table(name: str, *, session: Session) -> None:
    if not name.startswith(ARCHIVE_PREFIX):
        raise ValueError(f"{name!r} is not an archive table")
    Table(name, MetaData(), autoload_with=session.connection()).drop(bind=session.connection())


def archive_rows(name: str, *, session: Session) -> tuple[list[str], list[tuple[object, ...]]]:
    """The columns and rows of an archive table (for `db export-archived`)."""
    table = Table(name, MetaData(), autoload_with=session.connection())
    result = session.execute(select(table))
    return list(result.keys()), [tuple(row) for row in result]
