"""`aerovane db` schema commands with Airflow 2's flags: migrate -r/-s, init/upgrade (deprecated
aliases), downgrade, check --retry, check-migrations, reset --skip-init, shell."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aerovane.cli import cli
from aerovane.db.migrate import current_revision, head_revision, migrate, revisions
from tests.cli.conftest import fails, ok
from tests.conftest import PG_URL


@pytest.fixture
def restored(runner: CliRunner) -> Iterator[CliRunner]:
    """The schema is back at head afterwards, whatever the test did to it."""
    try:
        yield runner
    finally:
        migrate()


def test_downgrade_check_and_migrate_to_a_revision(restored: CliRunner) -> None:
    head = head_revision()
    previous = revisions()[-2]
    out = ok(restored, "db", "downgrade", "-r", previous, "-y")
    assert f"Downgrading from {head} to {previous}." in out and "Downgrade complete" in out
    assert current_revision() == previous
    assert "expected" in fails(restored, "db", "check").stderr
    waited = fails(restored, "db", "check-migrations", "-t", "0")
    assert "unapplied migrations" in waited.stderr
    assert ok(restored, "db", "migrate", "-r", head) == f"Database migrated to {head}.\n"
    assert current_revision() == head
    assert "schema at head" in ok(restored, "db", "check", "--retry", "2")
    assert ok(restored, "db", "check-migrations", "-t", "0") == "DB migrations are done.\n"


def test_deprecated_init_and_upgrade_migrate(restored: CliRunner) -> None:
    ok(restored, "db", "reset", "-y", "--skip-init")
    assert current_revision() is None
    result = restored.invoke(cli, ["db", "init"])
    assert result.exit_code == 0, result.output
    assert "`db init` is deprecated" in result.stderr
    assert "Initialization done" in result.stdout
    assert current_revision() == head_revision()
    upgraded = restored.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and "deprecated" in upgraded.stderr
    assert upgraded.stdout == "Database is up to date.\n"


def test_bad_revisions_flags_and_show_sql_only(runner: CliRunner) -> None:
    assert "unknown revision '9999'" in fails(runner, "db", "migrate", "-r", "9999").stderr
    assert "unknown revision" in fails(runner, "db", "downgrade", "-r", "x", "-y").stderr
    assert "Aerovane's schema" in fails(runner, "db", "downgrade", "-n", "2.10.0", "-y").stderr
    assert "either --to-revision or --to-version" in fails(runner, "db", "downgrade", "-y").stderr
    assert "--show-sql-only" in fails(runner, "db", "migrate", "--from-revision", "0001").stderr
    # Declining the confirmation changes nothing.
    declined = runner.invoke(cli, ["db", "downgrade", "-r", "0001"])
    assert declined.exit_code == 1 and current_revision() == head_revision()
    # --show-sql-only prints and changes nothing.
    head, previous = head_revision(), revisions()[-2]
    args = ("db", "downgrade", "-r", previous, "-s", "--from-revision", head)
    if PG_URL:
        sql = ok(runner, *args)
        assert f"UPDATE alembic_version SET version_num='{previous}'" in sql
        upgrade = ok(runner, "db", "migrate", "-s", "--from-revision", "0001", "-r", "0002")
        assert "CREATE TABLE" in upgrade and "COMMIT" in upgrade
    else:
        # SQLite's batch migrations reflect the live table, which offline mode cannot.
        assert "cannot be printed offline" in fails(runner, *args).stderr
    assert current_revision() == head


def test_shell_opens_the_database_client(db: Path) -> None:
    query = "SELECT count(*) FROM ab_role WHERE name = 'Admin';\n"
    done = subprocess.run(
        [sys.executable, "-m", "aerovane", "db", "shell"],
        input=query,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3 if PG_URL else -1] == "1", done.stdout
