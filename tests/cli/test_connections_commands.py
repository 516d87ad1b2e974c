"""`aerovane connections` against a real database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.cli.conftest import fails, ok


def test_add_by_uri_get_list_delete(runner: CliRunner) -> None:
    out = ok(
        runner,
        "connections",
        "add",
        "warehouse",
        "--conn-uri",
        "postgres://ana:p%40ss@db.example:5433/sales?sslmode=require",
    )
    assert out.startswith("Successfully added `conn_id`=warehouse : postgres://")
    (row,) = json.loads(ok(runner, "connections", "get", "warehouse", "-o", "json"))
    assert row["conn_type"] == "postgres"
    assert (row["host"], row["port"], row["schema"], row["login"]) == (
        "db.example",
        5433,
        "sales",
        "ana",
    )
    assert row["password"] == "p@ss"  # Airflow's `connections get` prints it too
    assert row["extra_dejson"] == {"sslmode": "require"}
    assert row["get_uri"] == "postgres://ana:p%40ss@db.example:5433/sales?sslmode=require"
    listed = json.loads(ok(runner, "connections", "list", "-o", "json", "--conn-id", "warehouse"))
    assert [c["conn_id"] for c in listed] == ["warehouse"]
    assert "Successfully deleted" in ok(runner, "connections", "delete", "warehouse")
    assert "was not found" in fails(runner, "connections", "get", "warehouse").stderr
    fails(runner, "connections", "delete", "warehouse")


def test_add_by_fields_and_json(runner: CliRunner) -> None:
    out = ok(
        runner,
        "connections",
        "add",
        "api",
        "--conn-type",
        "http",
        "--conn-host",
        "example.com",
        "--conn-password",
        "hunter2",
        "--conn-extra",
        '{"token": "t"}',
    )
    assert "hunter2" not in out and "******" in out
    ok(runner, "connections", "add", "j", "--conn-json", '{"conn_type": "sqlite", "host": "/x"}')
    (row,) = json.loads(ok(runner, "connections", "get", "j", "-o", "json"))
    assert (row["conn_type"], row["host"]) == ("sqlite", "/x")
    assert "already exist" in fails(runner, "connections", "add", "j", "--conn-type", "x").stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["c"], "Must supply either conn-uri or conn-json"),
        (["c", "--conn-uri", "a://b", "--conn-json", "{}"], "Cannot supply both"),
        (["c", "--conn-uri", "a://b", "--conn-host", "h"], "not compatible with the --conn-uri"),
        (["c", "--conn-json", '{"host": "h"}'], "must supply conn-type"),
        (["c", "--conn-json", "{"], "not valid JSON"),
        (["c", "--conn-uri", "nonsense"], "URI provided is invalid"),
        (["bad id!", "--conn-type", "http"], "alphanumeric"),
    ],
)
def test_add_refuses_bad_input(runner: CliRunner, args: list[str], message: str) -> None:
    assert message in fails(runner, "connections", "add", *args).stderr
    assert json.loads(ok(runner, "connections", "list", "-o", "json")) == []


@pytest.mark.parametrize("suffix", ["json", "yaml", "env"])
def test_export_import_round_trip(runner: CliRunner, tmp_path: Path, suffix: str) -> None:
    ok(runner, "connections", "add", "a", "--conn-uri", "mysql://u:pw@h:3306/s?x=1")
    ok(runner, "connections", "add", "b", "--conn-type", "http", "--conn-host", "example.com")
    before = json.loads(ok(runner, "connections", "list", "-o", "json"))
    target = tmp_path / f"conns.{suffix}"
    ok(runner, "connections", "export", str(target))
    text = target.read_text()
    if suffix == "json":
        assert json.loads(text)["a"]["password"] == "pw"
    elif suffix == "yaml":
        assert yaml.safe_load(text)["b"]["host"] == "example.com"
    else:
        assert "a=mysql://u:pw@h:3306/s?x=1" in text.splitlines()
    ok(runner, "connections", "delete", "a")
    out = ok(runner, "connections", "import", str(target))
    assert "Imported connection a" in out
    assert "Could not import connection b: connection already exists." in out
    after = json.loads(ok(runner, "connections", "list", "-o", "json"))
    strip = [{k: v for k, v in c.items() if k != "id"} for c in before]
    assert [{k: v for k, v in c.items() if k != "id"} for c in after] == strip
    ok(runner, "connections", "import", str(target), "--overwrite")


def test_export_to_stdout_and_bad_files(runner: CliRunner, tmp_path: Path) -> None:
    ok(runner, "connections", "add", "a", "--conn-type", "http")
    assert json.loads(ok(runner, "connections", "export", "-"))["a"]["conn_type"] == "http"
    assert "Unsupported file format" in fails(runner, "connections", "export", "x.txt").stderr
    result = fails(runner, "connections", "export", "x.json", "--serialization-format", "uri")
    assert "only be used with file type `env`" in result.stderr
    broken = tmp_path / "c.json"
    broken.write_text("[")
    assert (
        "Failed to load connections file"
        in fails(runner, "connections", "import", str(broken)).stderr
    )
    fails(runner, "connections", "import", str(tmp_path / "missing.json"))


def test_test_needs_enabling_then_checks(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.config import reload_settings

    database = tmp_path / "target.db"
    sqlite3.connect(database).close()
    ok(runner, "connections", "add", "lite", "--conn-type", "sqlite", "--conn-host", str(database))
    ok(
        runner,
        "connections",
        "add",
        "gone",
        "--conn-type",
        "sqlite",
        "--conn-host",
        str(tmp_path / "no" / "x"),
    )
    assert "disabled" in fails(runner, "connections", "test", "lite").stderr
    monkeypatch.setenv("AEROVANE__CORE__TEST_CONNECTION", "Enabled")
    reload_settings()
    assert "Connection success!" in ok(runner, "connections", "test", "lite")
    assert "Connection failed!" in fails(runner, "connections", "test", "gone").stderr
    assert "was not found" in fails(runner, "connections", "test", "nope").stderr
