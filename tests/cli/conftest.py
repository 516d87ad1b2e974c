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


def ok(runner: CliRunner, *args: str, input: str | None = None) -> str:
    """The command's stdout, after checking it succeeded."""
    result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(runner: CliRunner, *args: str) -> Result:
    """The command exits non-zero with one line on stderr and no traceback."""
    result = runner.invoke(cli, list(args))
    assert result.exit_code != 0, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return result


def store_dags(path: str, *dags: object, error: str | None = None) -> None:
    """Write DAGs (or an import error) as the DAG processor would after parsing `path`."""
    from aerovane.authoring.serialization import serialize_dag
    from aerovane.dag_processing.writer import store_parse_result
    from aerovane.db.engine import create_session

    with create_session() as session:
        store_parse_result(path, [serialize_dag(d) for d in dags], error, session=session)
