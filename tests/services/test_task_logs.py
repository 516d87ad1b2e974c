"""Log paths: every id Airflow accepts gives a path the file system takes, the same each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerovane.services.task_logs import log_path

LONGEST = 250  # Airflow's limit for dag, run and task ids
NAME_MAX = 255  # bytes in a file name on Linux and macOS


@pytest.mark.parametrize(
    ("dag_id", "run_id", "task_id"),
    [
        ("d" * LONGEST, "r" * LONGEST, "t" * LONGEST),
        ("etl", "manual__" + "é" * 200, "group.task"),  # short in characters, long in bytes
        ("etl", "odd/run", "extract"),  # a permissive allowed_run_id_pattern
    ],
)
def test_any_accepted_id_gives_a_writable_log_path(
    aerovane_home: Path, dag_id: str, run_id: str, task_id: str
) -> None:
    path = log_path(dag_id, run_id, task_id, 1, map_index=3)
    assert path == log_path(dag_id, run_id, task_id, 1, map_index=3)
    base = path.relative_to(log_path("x", "y", "z", 1).parents[3])
    assert len(base.parts) == 5
    assert all(len(part.encode()) <= NAME_MAX for part in base.parts)
    path.parent.mkdir(parents=True)
    path.write_text("hello\n", encoding="utf-8")
    assert path.read_text(encoding="utf-8") == "hello\n"


def test_short_ids_keep_the_airflow_layout(aerovane_home: Path) -> None:
    path = log_path("etl", "manual__2024-01-01", "extract", 2)
    assert path.parts[-4:] == (
        "dag_id=etl",
        "run_id=manual__2024-01-01",
        "task_id=extract",
        "attempt=2.log",
    )


def test_long_ids_that_share_a_prefix_get_different_paths(aerovane_home: Path) -> None:
    first = log_path("etl", "r" * LONGEST, "extract", 1)
    second = log_path("etl", "r" * (LONGEST - 1) + "s", "extract", 1)
    assert first != second
