"""`aerovane info` and `aerovane cheat-sheet`."""

from __future__ import annotations

import getpass
import json

import pytest
import yaml
from click.testing import CliRunner

from aerovane.cli import cli
from tests.cli.conftest import fails, ok


def test_info_hides_the_database_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.config import reload_settings

    monkeypatch.setenv(
        "AEROVANE__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg://av:t0psecret@db:5432/av"
    )
    reload_settings()
    (data,) = json.loads(ok(runner, "info", "-o", "json"))
    assert data["Aerovane info"]["sql_alchemy_conn"] == "postgresql+psycopg://av:***@db:5432/av"
    assert data["System info"]["python_location"]
    for fmt in ("table", "plain"):
        assert "t0psecret" not in ok(runner, "info", "-o", fmt)
    assert "Paths info" in yaml.safe_load(ok(runner, "info", "-o", "yaml"))[0]
    anonymous = ok(runner, "info", "--anonymize", "-o", "plain")
    assert getpass.getuser() not in anonymous
    assert "does not upload" in fails(runner, "info", "--file-io").stderr


def test_cheat_sheet_lists_every_group(runner: CliRunner) -> None:
    out = ok(runner, "cheat-sheet")
    for command in (
        "aerovane variables import",
        "aerovane connections test",
        "aerovane pools export",
        "aerovane dags backfill",
        "aerovane tasks states-for-dag-run",
        "aerovane db clean",
        "aerovane roles export",
        "aerovane users import",
    ):
        assert command in out


def test_every_group_help_reads(runner: CliRunner) -> None:
    for group in ("variables", "connections", "pools", "dags", "tasks", "db", "users", "roles"):
        result = runner.invoke(cli, [group, "--help"])
        assert result.exit_code == 0 and "Commands:" in result.output
    # The closing note names what of Airflow 2's CLI is still missing.
    top = runner.invoke(cli, ["--help"]).output
    assert "Not yet from Airflow 2's CLI:" in top and "docs/cli-coverage.md" in top
    for present in ("plugins", "providers", "rotate-fernet-key"):
        assert f"  {present} " in top
