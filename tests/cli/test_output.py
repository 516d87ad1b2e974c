"""`-o table|json|yaml|plain`: the same rows in each format, ids never cut."""

from __future__ import annotations

import json

import yaml

from aerovane.cli.output import render

ROWS = [
    {
        "dag_id": "a_dag_with_a_rather_long_name_for_the_terminal",
        "run_id": "manual__2026-12-03T10:06:23.123456+00:00",
        "state": "success",
        "logical_date": "2026-12-03T10:06:23.123456+00:00",
        "conf": {"a": 1},
        "extra": "not a column",
    }
]
COLUMNS = ["dag_id", "run_id", "state", "logical_date", "conf"]


def test_table_off_a_terminal_keeps_whole_ids() -> None:
    table = render(ROWS, COLUMNS, "table")  # pytest's stdout is not a terminal
    assert "…" not in table
    row = next(line for line in table.splitlines() if "manual__" in line)
    assert ROWS[0]["run_id"] in row and ROWS[0]["dag_id"] in row
    assert ROWS[0]["logical_date"] in row and '{"a": 1}' in row


def test_formats_carry_the_same_columns() -> None:
    expected = [{c: ROWS[0][c] for c in COLUMNS}]
    assert json.loads(render(ROWS, COLUMNS, "json")) == expected
    assert yaml.safe_load(render(ROWS, COLUMNS, "yaml")) == expected
    assert render(ROWS, COLUMNS, "plain").split("\t") == [
        ROWS[0]["dag_id"],
        ROWS[0]["run_id"],
        "success",
        ROWS[0]["logical_date"],
        '{"a": 1}',
    ]
    assert render([], COLUMNS, "json") == "[]"
