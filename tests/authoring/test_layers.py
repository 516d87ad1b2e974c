"""What users write stays above the engine: operators never import services/db/scheduler."""

from __future__ import annotations

import ast
from pathlib import Path

import aerovane.authoring.operators as operators_package

FORBIDDEN = ("aerovane.services", "aerovane.db", "aerovane.scheduler", "aerovane.runtime")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_operators_reach_metadata_only_through_the_runtime_client() -> None:
    folder = Path(operators_package.__file__).parent
    offenders = {
        f"{path.name}: {name}"
        for path in folder.glob("*.py")
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert not offenders
