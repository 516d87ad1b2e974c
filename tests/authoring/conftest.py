"""Fixtures for the authoring tests: an isolated AEROVANE_HOME and a clean DAG context."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test reads settings from its own empty home, never ~/aerovane."""
    from aerovane.authoring.dag import _dag_stack, collect_autoregistered_dags
    from aerovane.config import reload_settings

    for name in list(os.environ):
        if name.startswith(("AEROVANE__", "AIRFLOW__")) or name == "AEROVANE_CONFIG":
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "aerovane_home"
    monkeypatch.setenv("AEROVANE_HOME", str(home))
    reload_settings()
    collect_autoregistered_dags()
    yield home
    assert not _dag_stack, "a test left a `with DAG(...)` block open"
    collect_autoregistered_dags()
    reload_settings()
