"""`aerovane pools` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.cli.conftest import fails, ok


def test_set_get_list_delete(runner: CliRunner) -> None:
    row = json.loads(ok(runner, "pools", "set", "gpu", "4", "GPUs", "-o", "json"))
    assert row == [{"pool": "gpu", "slots": 4, "description": "GPUs", "include_deferred": False}]
    ok(runner, "pools", "set", "gpu", "2", "fewer GPUs", "--include-deferred")
    got = json.loads(ok(runner, "pools", "get", "gpu", "-o", "json"))
    assert got == [
        {"pool": "gpu", "slots": 2, "description": "fewer GPUs", "include_deferred": True}
    ]
    names = ok(runner, "pools", "list", "-o", "plain").splitlines()
    assert [line.split("\t")[0] for line in names] == ["default_pool", "gpu"]
    assert "gpu" in ok(runner, "pools", "list")
    ok(runner, "pools", "delete", "gpu")
    assert "not found" in fails(runner, "pools", "get", "gpu").stderr
    assert "can't be deleted" in fails(runner, "pools", "delete", "default_pool").stderr
    assert "Slots must be" in fails(runner, "pools", "set", "--", "bad", "-5", "x").stderr


def test_export_import(runner: CliRunner, tmp_path: Path) -> None:
    ok(runner, "pools", "set", "io", "3", "disk")
    target = tmp_path / "pools.json"
    assert "Exported 2 pools" in ok(runner, "pools", "export", str(target))
    data = json.loads(target.read_text())
    assert data["io"] == {"slots": 3, "description": "disk", "include_deferred": False}
    ok(runner, "pools", "delete", "io")
    data["io"]["slots"] = 5
    target.write_text(json.dumps(data))
    assert "Uploaded 2 pool(s)" in ok(runner, "pools", "import", str(target))
    assert json.loads(ok(runner, "pools", "get", "io", "-o", "json"))[0]["slots"] == 5
    target.write_text(json.dumps({"x": {"slots": "many"}}))
    assert "Failed to update pool(s): x" in fails(runner, "pools", "import", str(target)).stderr
    assert "Missing pools file" in fails(runner, "pools", "import", str(tmp_path / "no")).stderr
