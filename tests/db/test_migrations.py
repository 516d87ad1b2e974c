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


@pytest.mark.skipif(bool(PG_URL), reason="replays migrations into a private SQLite file")
def test_ab_user_autoincrement_migration_keeps_memberships_and_triggers(tmp_path: Path) -> None:
    """0012 rebuilds ab_user on SQLite: role memberships (which the drop cascades to) and the
    auth_version triggers survive, and a deleted user's id is not handed out again."""
    from alembic import command
    from sqlalchemy import create_engine, event, text

    from aerovane.db import migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'upgrade.db'}")
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA foreign_keys=ON"))
    with engine.begin() as conn:
        command.upgrade(migrate._alembic_config(conn), "0011")
        conn.execute(text("INSERT INTO ab_role (id, name) VALUES (1, 'Admin')"))
        for uid in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO ab_user (id, first_name, last_name, username, active, email) "
                    "VALUES (:id, 'a', 'b', :name, 1, :email)"
                ),
                {"id": uid, "name": f"u{uid}", "email": f"u{uid}@example.com"},
            )
            conn.execute(
                text("INSERT INTO ab_user_role (user_id, role_id) VALUES (:id, 1)"), {"id": uid}
            )
    with engine.begin() as conn:
        command.upgrade(migrate._alembic_config(conn), "head")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT user_id FROM ab_user_role ORDER BY 1")).all() == [
            (1,),
            (2,),
        ]
        triggers = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'ab_user'")
        ).scalars()
        assert sorted(triggers) == [
            "ab_user_delete_auth_version",
            "ab_user_insert_auth_version",
            "ab_user_update_auth_version",
        ]
        before = conn.execute(text("SELECT version FROM auth_version")).scalar_one()
        conn.execute(text("DELETE FROM ab_user WHERE id = 2"))
        assert conn.execute(text("SELECT version FROM auth_version")).scalar_one() != before
        conn.execute(
            text(
                "INSERT INTO ab_user (first_name, last_name, username, active, email) "
                "VALUES ('a', 'b', 'next', 1, 'u2@example.com')"
            )
        )
        assert conn.execute(text("SELECT id FROM ab_user WHERE username = 'next'")).scalar() == 3
    engine.dispose()
