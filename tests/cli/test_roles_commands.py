"""`aerovane roles export|import` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.cli.conftest import fails, ok


def test_export_then_import_round_trips(runner: CliRunner, tmp_path: Path) -> None:
    ok(runner, "roles", "create", "Analyst", "Empty")
    ok(runner, "roles", "add-perms", "Analyst", "-r", "DAGs", "-a", "can_read", "-a", "can_edit")
    target = tmp_path / "roles.json"
    assert "2 roles successfully exported" in ok(runner, "roles", "export", str(target), "-p")
    data = json.loads(target.read_text())
    assert data == [
        {"role": "Analyst", "resource": "DAGs", "action": "can_edit,can_read"},
        {"role": "Empty", "resource": "", "action": ""},
    ]
    ok(runner, "roles", "delete", "Analyst", "Empty")
    assert "successfully imported" in ok(runner, "roles", "import", str(target))
    rows = json.loads(ok(runner, "roles", "list", "-p", "-o", "json"))
    assert {"name": "Analyst", "resource": "DAGs", "action": "can_edit,can_read"} in rows
    names = [r["name"] for r in json.loads(ok(runner, "roles", "list", "-o", "json"))]
    assert "Empty" in names


def test_import_refuses_bad_files_without_changes(runner: CliRunner, tmp_path: Path) -> None:
    before = ok(runner, "roles", "list", "-o", "json")
    assert "does not exist" in fails(runner, "roles", "import", str(tmp_path / "no.json")).stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert "not a valid JSON file" in fails(runner, "roles", "import", str(broken)).stderr
    unknown = tmp_path / "unknown.json"
    unknown.write_text(
        json.dumps(
            [
                {"role": "New", "resource": "DAGs", "action": "can_read"},
                {"role": "New", "resource": "Nope", "action": "can_read"},
            ]
        )
    )
    fails(runner, "roles", "import", str(unknown))
    nameless = tmp_path / "nameless.json"
    nameless.write_text(json.dumps([{"resource": "DAGs"}]))
    assert "without a role name" in fails(runner, "roles", "import", str(nameless)).stderr
    assert ok(runner, "roles", "list", "-o", "json") == before
