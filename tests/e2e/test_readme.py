"""The README's and docs/recipes.md's blocks, run as a new user runs them: on a fresh
`aerovane standalone`, in a shell whose `~` holds the standalone's home, verbatim but for the
two port numbers.

Bash blocks run in one `bash -e` script per section (variables carry over as in one
terminal); Python blocks run with `python3` in that same script, the second of a session after
the first, as if typed into one interpreter.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.standalone_server import standalone_env, start, stop, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.embedded_sqlite]

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RECIPES = REPO / "docs" / "recipes.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


def blocks(doc: Path = README) -> list[tuple[str, str]]:
    """(language, text) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(doc.read_text())]


def block(language: str, marker: str) -> str:
    found = [text for lang, text in blocks() if lang == language and marker in text]
    assert len(found) == 1, f"one {language} block with {marker!r} expected, found {len(found)}"
    return found[0]


def python_in_shell(code: str) -> str:
    return f"python3 - <<'PYTHON'\n{code}\nPYTHON\n"


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Runs a script in "another terminal" of a standalone started as the README starts it."""
    user_home = tmp_path_factory.mktemp("user")
    home = user_home / "aerovane"
    proc, port, api_port = start(home)
    try:
        wait_healthy(f"http://127.0.0.1:{api_port}/api/v1", home)
        env = {**standalone_env(home, port, api_port), "HOME": str(user_home)}
        activate = REPO / ".venv" / "bin" / "activate"
        # The terminal the tour's first block activated the venv in (the README's venv, or
        # this interpreter's when the tests run elsewhere).
        activated = (
            f"source {activate}\n"
            if activate.exists()
            else f"export PATH={Path(sys.executable).parent}:$PATH\n"
        )

        def run(script: str, cwd: Path = REPO, *, fresh: bool = False) -> str:
            """`fresh`: a new terminal, as the tour's first block starts from."""
            script = script.replace("8080", str(port)).replace("8081", str(api_port))
            if fresh and not activate.exists():
                script = script.replace("source .venv/bin/activate", activated)
            result = subprocess.run(
                ["bash", "-e", "-c", script if fresh else activated + script],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, f"{script}\n---\n{result.stdout}\n{result.stderr}"
            return result.stdout

        run.home = home  # type: ignore[attr-defined]
        run.work = user_home  # type: ignore[attr-defined]
        yield run
    finally:
        stop(proc)


def test_five_minute_tour(terminal: object) -> None:
    script = block("bash", "source .venv/bin/activate")
    out = terminal(script, fresh=True)  # type: ignore[operator]
    assert '"composer_sample_trigger_response_dag"' in out
    assert "\nsuccess\n" in out
    assert "{a: 1}" in out  # the task's log shows the conf


def test_your_own_dag(terminal: object) -> None:
    source = block("python", 'DAG("hello"')
    (terminal.home / "dags" / "hello.py").write_text(source)  # type: ignore[attr-defined]
    out = terminal(block("bash", "aerovane dags test hello"))  # type: ignore[operator]
    assert "hello test" in out and "finished success" in out
    assert "hello world" in out  # dag.test(), without a conf
    assert "Task greet finished: success; returned 'hello world'" in out
    assert "manual__" in out and "hello" in out.split("aerovane dags list-runs")[-1]


def test_tour_through_the_proxy(terminal: object) -> None:
    setup = block("bash", "aerovane iam service-accounts create trigger-robot")
    stable = block("python", 'make_iap_request(f"{web}/api/v1/dags/{dag}/dagRuns"')
    enable = block("bash", "api-enable_experimental_api=True\n")
    experimental = block("python", "/api/experimental/dags/{dag}/dag_runs")
    changes = block("bash", "--web-server-allow-all")
    script = (
        setup + python_in_shell(stable) + enable + python_in_shell(stable + experimental) + changes
    )
    out = terminal(script, cwd=terminal.work)  # type: ignore[operator, attr-defined]
    assert "User accounts.google.com:" in out and "created with role Op" in out
    assert out.count(" queued\n") == 2  # each Python session's stable-API trigger
    assert "Created <DagRun composer_sample_trigger_response_dag" in out


def test_recipes_in_order(terminal: object, tmp_path: Path) -> None:
    """Every block of docs/recipes.md, top to bottom in one terminal, in a directory that has
    the repository's `examples/` (the last recipe runs one)."""
    (tmp_path / "examples").symlink_to(REPO / "examples")
    script = "".join(
        python_in_shell(text) if language == "python" else text
        for language, text in blocks(RECIPES)
    )
    out = terminal(script, cwd=tmp_path)  # type: ignore[operator]
    assert "roles/composer.user" in out
    assert '"airflowUri"' in out or "airflowUri" in out
    assert "created with role Op" in out
    assert out.count('"dag_run_id"') >= 3  # stable API by curl (ID and access token), Python
