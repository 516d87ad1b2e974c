"""`BashSensor`: poke by running a Bash command; exit code 0 means the condition holds."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any, ClassVar

from aerovane.authoring.exceptions import AerovaneFailException
from aerovane.authoring.sensors.base import BaseSensorOperator

__all__ = ["BashSensor"]


class BashSensor(BaseSensorOperator):
    """Runs `bash_command` in a temporary directory at each poke.

    Exit code 0 ends the wait. With `retry_exit_code` only that code means "not yet" and any
    other non-zero code fails the task; without it every non-zero code means "not yet".
    """

    template_fields: ClassVar[tuple[str, ...]] = ("bash_command", "env")

    def __init__(
        self,
        *,
        bash_command: str,
        env: dict[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code

    def poke(self, context: Mapping[str, Any]) -> bool:
        self.log.info("Running command: %s", self.bash_command)
        with tempfile.TemporaryDirectory(prefix="aerovanetmp") as tmp_dir:
            script = os.path.join(tmp_dir, f"{self.task_id}.sh")
            with open(script, "w", encoding="utf-8") as handle:
                handle.write(self.bash_command)
            with subprocess.Popen(
                ["bash", script],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                close_fds=True,
                cwd=tmp_dir,
                env=self.env,
                start_new_session=True,
            ) as proc:
                assert proc.stdout is not None
                self.log.info("Output:")
                for line in iter(proc.stdout.readline, b""):
                    self.log.info(line.decode(self.output_encoding).rstrip())
                code = proc.wait()
        self.log.info("Command exited with return code %s", code)
        if code == 0:
            return True
        if self.retry_exit_code is None:
            self.log.info("Non-zero return code and no retry code set, will retry later")
            return False
        if code == self.retry_exit_code:
            self.log.info("Return code matches retry code, will retry later")
            return False
        raise AerovaneFailException(f"Command exited with return code {code}")
