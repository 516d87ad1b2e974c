"""BashOperator against a real bash."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from aerovane.authoring import DAG, BashOperator
from aerovane.authoring.exceptions import AerovaneException, AerovaneSkipException
from tests.authoring.helpers import FakeTI, run_task

_ids = itertools.count()


def _bash(**kwargs: object) -> BashOperator:
    with DAG(f"bash_{next(_ids)}", schedule=None):
        return BashOperator(task_id="b", **kwargs)  # type: ignore[arg-type]


def test_returns_last_line_and_logs_every_line(caplog: pytest.LogCaptureFixture) -> None:
    op = _bash(bash_command="echo first; echo second >&2; printf 'last line\\n\\n'")
    with caplog.at_level(logging.INFO, logger="aerovane.task.operators.BashOperator"):
        assert run_task(op) == ""
    messages = [r.getMessage() for r in caplog.records]
    assert "first" in messages and "second" in messages and "last line" in messages
    assert "Command exited with return code 0" in messages
    assert run_task(_bash(bash_command="echo one; echo two")) == "two"


def test_exit_99_skips_and_other_codes_fail() -> None:
    with pytest.raises(AerovaneSkipException, match="exit code 99"):
        run_task(_bash(bash_command="exit 99"))
    with pytest.raises(
        AerovaneException,
        match=r"Bash command failed\. The command returned a non-zero exit code 3\.",
    ):
        run_task(_bash(bash_command="echo oops; exit 3"))
    with pytest.raises(AerovaneSkipException):
        run_task(_bash(bash_command="exit 5", skip_on_exit_code=[5, 6]))
    with pytest.raises(AerovaneException, match="exit code 99"):
        run_task(_bash(bash_command="exit 99", skip_on_exit_code=None))


def test_env_replaces_or_extends_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROVANE_TEST_PARENT", "parent")
    script = 'echo "${AEROVANE_TEST_PARENT:-unset}/${MINE:-unset}/$AIRFLOW_CTX_TASK_ID"'
    assert run_task(_bash(bash_command=script)) == "parent/unset/b"
    assert run_task(_bash(bash_command=script, env={"MINE": "m"})) == "unset/m/b"
    assert run_task(_bash(bash_command=script, env={"MINE": "m"}, append_env=True)) == "parent/m/b"


def test_cwd_and_default_temporary_directory(tmp_path: Path) -> None:
    assert run_task(_bash(bash_command="pwd", cwd=str(tmp_path))) == str(tmp_path)
    temp_dir = run_task(_bash(bash_command="pwd"))
    assert "aerovanetmp" in temp_dir and not os.path.exists(temp_dir)
    with pytest.raises(AerovaneException, match="Can not find the cwd"):
        run_task(_bash(bash_command="pwd", cwd=str(tmp_path / "missing")))
    file_path = tmp_path / "file"
    file_path.write_text("")
    with pytest.raises(AerovaneException, match="must be a directory"):
        run_task(_bash(bash_command="pwd", cwd=str(file_path)))


def test_templated_command_env_and_cwd(tmp_path: Path) -> None:
    op = _bash(
        bash_command="echo {{ ds }} $WHO {{ params.n }} $(basename $PWD)",
        env={"WHO": "{{ task.task_id }}"},
        cwd=str(tmp_path) + "{{ '' }}",
        params={"n": 7},
    )
    assert run_task(op) == f"2024-03-05 b 7 {tmp_path.name}"


def test_script_file_is_rendered_as_template(tmp_path: Path) -> None:
    (tmp_path / "job.sh").write_text("echo 'script for {{ ds_nodash }}'\n")
    with DAG("script", schedule=None, template_searchpath=[str(tmp_path)]):
        op = BashOperator(task_id="s", bash_command="job.sh")
    assert run_task(op) == "script for 20240305"


def test_output_encoding_errors_are_escaped() -> None:
    assert run_task(_bash(bash_command="printf 'caf\\xe9\\n'")) == "caf\\xe9"


def test_on_kill_terminates_the_process_group() -> None:
    op = _bash(bash_command="sleep 30 & sleep 30; echo done")
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_task(op, FakeTI())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    started = time.monotonic()
    thread.start()
    while op._process is None and time.monotonic() - started < 5:
        time.sleep(0.01)
    time.sleep(0.2)
    op.on_kill()
    thread.join(10)
    assert not thread.is_alive()
    assert errors and "non-zero exit code -15" in str(errors[0])
    op.on_kill()  # already finished: nothing to do


def test_non_string_command_is_rejected() -> None:
    with pytest.raises(AerovaneException, match="bash_command must be a non-empty string"):
        run_task(_bash(bash_command="   "))
