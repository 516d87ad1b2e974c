"""SQLite's statistics stay true to the data as a table grows (decision 0030): the planner
keeps reading one DAG's runs in id order for a page instead of sorting all of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from tests.api.conftest import add_dag
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite's query planner")

PAGE = "SELECT run_id, state, conf FROM dag_run WHERE dag_id = 'etl' ORDER BY id LIMIT 100"


def _add_runs(first: int, last: int) -> None:
    from aerovane.db.engine import create_session
    from aerovane.db.models import DagRun

    base = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(first, last):
        when = base + dt.timedelta(minutes=i)
        rows.append(
            dict(
                dag_id="etl",
                run_id=f"r{i}",
                logical_date=when,
                state="success",
                run_type="manual",
                external_trigger=True,
                conf={},
                clear_number=0,
            )
        )
    with create_session() as session:
        session.execute(insert(DagRun), rows)


def _use_fresh_connection() -> str:
    """Read the runs on a new pooled connection (its first check-in runs `PRAGMA optimize`);
    the page's query plan."""
    from aerovane.db.engine import create_session, forget_connections, get_engine

    forget_connections()
    with create_session(readonly=True) as session:
        session.execute(text(PAGE)).all()
    with get_engine().connect() as conn:
        return " ".join(row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {PAGE}")))


def test_a_grown_table_is_analyzed_whole(db: Path) -> None:
    add_dag("etl")
    _add_runs(0, 400)
    assert "TEMP B-TREE" not in _use_fresh_connection()
    _add_runs(400, 40_000)  # 100x: PRAGMA optimize analyzes it again
    plan = _use_fresh_connection()
    from aerovane.db.engine import get_engine

    with get_engine().connect() as conn:
        stats = dict(
            conn.execute(text("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'dag_run'")).all()
        )
    # One DAG holds every run, and the statistics say so (a sampled analysis said ~1,000).
    assert stats["sqlite_autoindex_dag_run_2"].split()[:2] == ["40000", "40000"], stats
    assert "TEMP B-TREE" not in plan, plan
