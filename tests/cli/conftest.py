"""A CliRunner over a real, migrated metadata database (SQLite, or PostgreSQL when asked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aerovane.cli import _register, cli


@pytest.fixture
def runner(db: Path) -> CliRunner:
    _register()
    return CliRunner()


def ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def fails(runner: CliRunner, *args: str) -> Result:
    """The command exits non-zero with one line on stderr and no traceback."""
    result = runner.invoke(cli, list(args))
    assert result.exit_code != 0, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return result
