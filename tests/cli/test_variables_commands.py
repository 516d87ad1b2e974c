"""`aerovane variables` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.cli.conftest import fails, ok


def test_set_get_list_delete(runner: CliRunner) -> None:
    assert ok(runner, "variables", "set", "greeting", "hello", "--description", "d") == (
        "Variable greeting created\n"
    )
    ok(runner, "variables", "set", "api_password", "s3cret")
    assert ok(runner, "variables", "get", "greeting") == "hello\n"
    # As Airflow's `variables get`: the operator at the CLI sees the real value.
    assert ok(runner, "variables", "get", "api_password") == "s3cret\n"
    listed = json.loads(ok(runner, "variables", "list", "-o", "json"))
    assert listed == [{"key": "api_password"}, {"key": "greeting"}]
    assert ok(runner, "variables", "list", "-o", "plain") == "api_password\ngreeting\n"
    assert "- key: greeting" in ok(runner, "variables", "list", "-o", "yaml")
    ok(runner, "variables", "delete", "greeting")
    assert (
        "Variable greeting does not exist" in fails(runner, "variables", "get", "greeting").stderr
    )
    assert ok(runner, "variables", "get", "greeting", "-d", "fallback") == "fallback\n"
    fails(runner, "variables", "delete", "greeting")


def test_json_values(runner: CliRunner) -> None:
    ok(runner, "variables", "set", "cfg", '{"a": [1, 2]}', "--json")
    assert json.loads(ok(runner, "variables", "get", "cfg", "--json")) == {"a": [1, 2]}
    assert "not JSON" in fails(runner, "variables", "set", "x", "{nope", "--json").stderr


def test_export_then_import_round_trips(runner: CliRunner, tmp_path: Path) -> None:
    ok(runner, "variables", "set", "plain", "text")
    ok(runner, "variables", "set", "cfg", '{"n": 1}')
    exported = tmp_path / "vars.json"
    assert "2 variables successfully exported" in ok(runner, "variables", "export", str(exported))
    assert json.loads(exported.read_text()) == {"cfg": {"n": 1}, "plain": "text"}
    ok(runner, "variables", "delete", "plain")
    ok(runner, "variables", "set", "cfg", "changed")
    out = ok(runner, "variables", "import", str(exported), "-a", "skip")
    assert "1 of 2 variables successfully updated." in out
    assert ok(runner, "variables", "get", "cfg") == "changed\n"
    assert ok(runner, "variables", "get", "plain") == "text\n"
    result = fails(runner, "variables", "import", str(exported), "-a", "fail")
    assert "['cfg', 'plain'] already exist" in result.stderr
    ok(runner, "variables", "import", str(exported))
    assert json.loads(ok(runner, "variables", "get", "cfg", "-j")) == {"n": 1}


def test_import_bad_files(runner: CliRunner, tmp_path: Path) -> None:
    assert (
        "Missing variables file"
        in fails(runner, "variables", "import", str(tmp_path / "no")).stderr
    )
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert (
        "Failed to load variables file" in fails(runner, "variables", "import", str(broken)).stderr
    )
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    fails(runner, "variables", "import", str(listed))
    with_desc = tmp_path / "desc.json"
    with_desc.write_text(json.dumps({"k": {"value": "v", "description": "about k"}}))
    ok(runner, "variables", "import", str(with_desc))
    assert ok(runner, "variables", "get", "k") == "v\n"
