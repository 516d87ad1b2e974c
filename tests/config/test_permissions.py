"""Modes of what Aerovane keeps on disk: a new home, its config, logs and SQLite database are
owner-only whatever the umask; an existing database or config readable by others is tightened;
an existing directory is left alone."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from aerovane.config import ensure_home, get_settings, reload_settings
from aerovane.db.engine import dispose_engines, get_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """A umask that lets group and others read (and the group write) what is created."""
    previous = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def home(aerovane_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home that does not exist yet, with a SQLite database (on any test database)."""
    new = aerovane_home.parent / "fresh" / "home"
    monkeypatch.setenv("AEROVANE_HOME", str(new))
    monkeypatch.setenv("AEROVANE__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{new}/aerovane.db")
    dispose_engines()
    reload_settings()
    return new


def _write_through_sqlite() -> list[Path]:
    """Write to the database and return its files that exist while a connection is open."""
    engine = get_engine()
    database = Path(engine.url.database or "")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:
        conn.execute(text("SELECT x FROM t")).all()
        files = [database, *(Path(f"{database}{s}") for s in ("-wal", "-shm"))]
        return [path for path in files if path.exists()]


def test_a_new_home_is_owner_only(home: Path, loose_umask: None) -> None:
    settings = ensure_home()
    assert _mode(home) == 0o700
    assert _mode(settings.config_file) == 0o600
    assert _mode(settings.base_log_folder) == 0o700
    files = _write_through_sqlite()
    assert [path.name for path in files] == ["aerovane.db", "aerovane.db-wal", "aerovane.db-shm"]
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}


def test_an_existing_database_and_config_are_tightened(
    home: Path, loose_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    home.mkdir(parents=True, mode=0o755)
    os.chmod(home, 0o755)
    database = home / "aerovane.db"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.touch()
        os.chmod(path, 0o644)
    settings = ensure_home()
    cfg = settings.config_file
    os.chmod(cfg, 0o644)
    caplog.set_level(logging.WARNING, logger="aerovane.config.permissions")
    dispose_engines()
    reload_settings()
    ensure_home()
    files = _write_through_sqlite()
    assert len(files) == 3
    assert {path.name: _mode(path) for path in [cfg, *files]} == {
        path.name: 0o600 for path in [cfg, *files]
    }
    # The directory was there already: its mode is the operator's choice.
    assert _mode(home) == 0o755
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"{cfg} was readable by other users (mode 644); now 600" in logged
    assert f"{database} was readable by other users (mode 644); now 600" in logged
    assert get_settings().home == home
