"""Import errors of DAG files, shown only as far as the caller may read the file's DAGs.

Airflow's rules: a caller who may read every DAG sees everything. Anyone else sees an error
only if they may read at least one DAG that the file defines (as last parsed), and its
stack trace only if they may read all of them.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.services.errors import NotFound

REDACTED = "REDACTED - you do not have read permission on all DAGs in the file"

_COLUMNS = (
    models.ImportErrorModel.id,
    models.ImportErrorModel.timestamp,
    models.ImportErrorModel.filename,
    models.ImportErrorModel.stacktrace,
)


class FileAccess(enum.Enum):
    ALL = "all"
    SOME = "some"
    NONE = "none"


def import_error_query(readable: Collection[str] | None) -> Select[Any]:
    """All import errors, or (`readable` DAG ids given) those of files defining one of them."""
    query = select(*_COLUMNS)
    if readable is not None:
        files = (
            select(models.DagModel.fileloc)
            .where(models.DagModel.dag_id.in_(sorted(readable)))
            .distinct()
        )
        query = query.where(models.ImportErrorModel.filename.in_(files))
    return query


def list_import_errors(*, session: Session) -> list[Any]:
    """Every import error, by file (the CLI's `dags list-import-errors`)."""
    query = import_error_query(None).order_by(models.ImportErrorModel.filename)
    return list(session.execute(query))


def dags_by_file(filenames: Iterable[str], *, session: Session) -> dict[str, set[str]]:
    names = sorted(set(filenames))
    found: dict[str, set[str]] = defaultdict(set)
    if not names:
        return found
    query = select(models.DagModel.fileloc, models.DagModel.dag_id).where(
        models.DagModel.fileloc.in_(names)
    )
    for fileloc, dag_id in session.execute(query):
        found[fileloc].add(dag_id)
    return found


def file_access(file_dags: set[str], readable: Collection[str] | None) -> FileAccess:
    if readable is None:
        return FileAccess.ALL
    visible = file_dags.intersection(readable)
    if not visible:
        return FileAccess.NONE
    return FileAccess.ALL if visible == file_dags else FileAccess.SOME


def shown_stacktrace(row: Any, file_dags: set[str], readable: Collection[str] | None) -> str:
    if file_access(file_dags, readable) is FileAccess.ALL:
        return row.stacktrace
    return REDACTED


def get_import_error(import_error_id: int, *, session: Session) -> Any:
    row = session.execute(
        select(*_COLUMNS).where(models.ImportErrorModel.id == import_error_id)
    ).first()
    if row is None:
        raise NotFound(f"The ImportError with import_error_id: `{import_error_id}` was not found")
    return row
