"""`BashOperator`: run a Bash command in a child process and report its last output line.

The command runs via `bash -c` in a new session (its own process group) so `on_kill` can stop
it together with everything it started. Output (stdout and stderr, merged) is streamed line by
line to the task log as it arrives.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Container, Mapping
from typing import IO, TYPE_CHECKING, Any, ClassVar

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.context import context_to_airflow_vars
from aerovane.authoring.exceptions import AerovaneException, AerovaneSkipException

if TYPE_CHECKING:
    import subprocess

__all__ = ["BashOperator"]


class BashOperator(BaseOperator):
    """Run `bash_command`; exit code 0 succeeds, codes in `skip_on_exit_code` skip the task.

    `env` replaces the inherited environment (or extends it with `append_env=True`); None
    inherits it. AIRFLOW_CTX_* variables describing the run are always added. Without `cwd`
    the command runs in a fresh temporary directory that is removed afterwards.
    """

    template_fields: ClassVar[tuple[str, ...]] = ("bash_command", "env", "cwd")
    template_fields_renderers: ClassVar[dict[str, str]] = {"bash_command": "bash", "env": "json"}
    template_ext: ClassVar[tuple[str, ...]] = (".sh", ".bash")
    ui_color: ClassVar[str] = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        if skip_on_exit_code is None:
            self.skip_on_exit_code: Container[int] = ()
        elif isinstance(skip_on_exit_code, int):
            self.skip_on_exit_code = (skip_on_exit_code,)
        else:
            self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def get_env(self, context: Mapping[str, Any]) -> dict[str, str]:
        """The child's environment: inherited, replaced or extended, plus AIRFLOW_CTX_*."""
        if self.env is None:
            env = dict(os.environ)
        elif self.append_env:
            env = {**os.environ, **self.env}
        else:
            env = dict(self.env)
        for key, value in env.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise AerovaneException(
                    f"BashOperator {self.task_id!r}: env must map strings to strings; "
                    f"{key!r} is {type(value).__name__}"
                )
        env.update(context_to_airflow_vars(context, in_env_var_format=True))
        return env

    def _check_cwd(self) -> None:
        if self.cwd is None:
            return
        if not os.path.exists(self.cwd):
            raise AerovaneException(f"Can not find the cwd: {self.cwd}")
        if not os.path.isdir(self.cwd):
            raise AerovaneException(f"The cwd {self.cwd} must be a directory")

    def execute(self, context: Mapping[str, Any]) -> str:
        import subprocess
        import tempfile

        command = self.bash_command
        if not isinstance(command, str) or not command.strip():
            raise AerovaneException(
                f"BashOperator {self.task_id!r}: bash_command must be a non-empty string, "
                f"got {command!r}"
            )
        self._check_cwd()
        env = self.get_env(context)
        with tempfile.TemporaryDirectory(prefix="aerovanetmp") as tmp_dir:
            cwd = self.cwd or tmp_dir
            self.log.info("Running command: %s", ["bash", "-c", command])
            self._process = subprocess.Popen(
                ["bash", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
            self.log.info("Output:")
            last_line = self._stream_output(self._process.stdout)
            exit_code = self._process.wait()
        self.log.info("Command exited with return code %s", exit_code)
        if exit_code in self.skip_on_exit_code:
            raise AerovaneSkipException(f"Bash command returned exit code {exit_code}. Skipping.")
        if exit_code != 0:
            raise AerovaneException(
                f"Bash command failed. The command returned a non-zero exit code {exit_code}."
            )
        return last_line

    def _stream_output(self, stream: IO[bytes] | None) -> str:
        last_line = ""
        if stream is None:
            return last_line
        with stream:
            for raw in iter(stream.readline, b""):
                last_line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip()
                self.log.info("%s", last_line)
        return last_line

    def on_kill(self) -> None:
        """SIGTERM the command's whole process group (it runs in its own session)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        self.log.info("Sending SIGTERM signal to bash process group")
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.killpg(process.pid, signal.SIGTERM)
