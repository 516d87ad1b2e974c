"""Both ways of creating the schema (models + stamp for an empty DB, Alembic replay otherwise)
must give exactly the models' schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from aerovane.db.models import Base
from tests.conftest import PG_URL


def _diffs(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), Base.metadata)


def test_fresh_schema_matches_models(db: Path) -> None:
    from aerovane.db.engine import get_engine
    from aerovane.db.migrate import check, current_revision, head_revision

    assert current_revision() == head_revision()
    assert check()[0]
    assert _diffs(get_engine()) == []


@pytest.mark.skipif(bool(PG_URL), reason="replays migrations into a private SQLite file")
def test_alembic_replay_matches_models(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from aerovane.db import migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'replay.db'}")
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(migrate._alembic_config(conn), "head")
    assert _diffs(engine) == []


def test_db_cli_check_reset(db: Path) -> None:
    from aerovane.cli import _register, cli
    from aerovane.db import models
    from aerovane.db.engine import create_session

    _register()
    runner = CliRunner()
    result = runner.invoke(cli, ["db", "check"])
    assert result.exit_code == 0, result.output
    with create_session() as session:
        session.add(models.Variable(key="doomed", val="x"))
    result = runner.invoke(cli, ["db", "reset", "--yes"])
    assert result.exit_code == 0, result.output
    with create_session(readonly=True) as session:
        assert session.query(models.Variable).count() == 0
        assert session.query(models.Role).count() == 5
        assert session.query(models.Pool).filter_by(pool="default_pool").one().slots == 128
