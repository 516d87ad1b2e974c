"""Schemathesis over the whole of Airflow's spec against a live server: no 5xx, and every
documented response conforms to its schema. Once with real ids pinned (so operations reach
their logic), once with generated ids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server

SPEC = Path(__file__).resolve().parents[3] / "shared" / "reference" / "airflow-v1.yaml"
pytestmark = [
    pytest.mark.embedded_sqlite,
    # Fuzzing the whole spec takes about a minute on an idle machine: room for a busy one.
    pytest.mark.timeout(300),
    pytest.mark.skipif(not SPEC.exists(), reason="../shared/reference is not beside the repo"),
]


def _seed(server: Server) -> None:
    run = httpx.post(
        f"{server.api}/dags/example_bash_operator/dagRuns",
        json={"dag_run_id": "fuzz_run", "conf": {}},
        auth=server.auth,
    )
    assert run.status_code == 200, run.text
    assert server.wait_run("example_bash_operator", "fuzz_run") == "success"
    for path, body in (
        ("/variables", {"key": "fuzz_var", "value": "v"}),
        ("/connections", {"connection_id": "fuzz_conn", "conn_type": "http"}),
        ("/pools", {"name": "fuzz_pool", "slots": 2}),
    ):
        httpx.post(f"{server.api}{path}", json=body, auth=server.auth)


def _run(server: Server, tmp_path: Path, pinned: bool) -> subprocess.CompletedProcess[str]:
    config = tmp_path / f"st-{pinned}.toml"
    lines = ["[parameters]"]
    if pinned:
        lines += [
            '"path.dag_id" = "example_bash_operator"',
            '"path.dag_run_id" = "fuzz_run"',
            '"path.task_id" = "runme_0"',
            '"path.task_try_number" = 1',
            '"path.variable_key" = "fuzz_var"',
            '"path.connection_id" = "fuzz_conn"',
            '"path.pool_name" = "fuzz_pool"',
        ]
    config.write_text("\n".join(lines) + "\n")
    st = Path(sys.executable).with_name("st")
    return subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            str(SPEC),
            "--url",
            server.api,
            "-a",
            f"admin:{server.password}",
            "-c",
            "not_a_server_error,response_schema_conformance",
            "-n",
            "6",
            "--phases",
            "examples,fuzzing",
            "--seed",
            "7",
            "--no-shrink",
            "--no-color",
            "--exclude-path-regex",
            "/(dags/\\{dag_id\\}|dags)$",  # keep the pinned DAG alive
            "--request-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )


@pytest.mark.slow
def test_spec_fuzzing_finds_no_server_errors(server: Server, tmp_path: Path) -> None:
    _seed(server)
    for pinned in (True, False):
        result = _run(server, tmp_path, pinned)
        summary = result.stdout[-4000:]
        assert result.returncode == 0, summary
        assert " passed" in summary and "failed" not in summary.split("Test cases:")[-1], summary
