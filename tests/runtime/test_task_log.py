"""`MaskedLog`: everything written to fds 1 and 2 reaches the log file masked, and closing it
neither loses the process's output nor waits for a process the task left running.

MaskedLog takes over the process's stdout and stderr, so each case runs in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from aerovane.runtime.task_log import MAX_LINE_BYTES

SCRIPT = """
import logging, os, subprocess, sys
from aerovane.authoring import mask_secret
from aerovane.runtime.task_log import MaskedLog

out = MaskedLog(sys.argv[1], "%(levelname)s %(message)s", "INFO")
mask_secret("early-secret-1")
mask_secret("split-secret-2")
print("after registration: early-secret-1")
os.write(1, b"in pieces: split-sec")
os.write(2, b"ret-2 via stderr\\n")
logging.getLogger("x").info("logged %s %s", "split-secret-2", {"api_key": "unregistered-3"})
print("long:" + "split-secret-2" + "y" * (2 * MAX_LINE_BYTES))
# A child that outlives the attempt, holding stdout and stderr open until told to go; it has
# printed (into the pipe) once it says so on `ready`.
ready_read, ready_write = os.pipe()
child = subprocess.Popen(
    [
        sys.executable,
        "-c",
        "import os, sys; print('child: early-secret-1', flush=True); "
        f"os.write({ready_write}, b'r'); sys.stdin.read()",
    ],
    stdin=subprocess.PIPE,
    pass_fds=(ready_write,),
)
os.close(ready_write)
assert os.read(ready_read, 1) == b"r"
sys.stdout.write("unterminated early-secret-1")
out.close()
os.write(int(sys.argv[2]), b"closed")
child.stdin.close()
child.wait()
"""


def test_masked_log(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "attempt.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env["AEROVANE_HOME"] = str(tmp_path / "home")
    script = tmp_path / "script.py"
    script.write_text(
        f"MAX_LINE_BYTES = {MAX_LINE_BYTES}\n" + textwrap.dedent(SCRIPT), encoding="utf-8"
    )
    read, write = os.pipe()
    try:
        proc = subprocess.run(
            [sys.executable, str(script), str(log_path), str(write)],
            env=env,
            pass_fds=(write,),
            capture_output=True,
            timeout=120,
        )
        os.close(write)
        write = -1
        assert os.read(read, 100) == b"closed"
    finally:
        os.close(read)
        if write != -1:
            os.close(write)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"" and proc.stderr == b""  # all of it went to the log
    text = log_path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert "after registration: ***" in lines
    assert "in pieces: *** via stderr" in lines
    assert "INFO logged *** {'api_key': '***'}" in lines
    long_line = next(line for line in lines if line.startswith("long:"))
    assert long_line.startswith("long:***yyy") and len(long_line) == 2 * MAX_LINE_BYTES + 8
    assert "child: ***" in lines
    assert lines[-1] == "unterminated ***"
    assert "early-secret-1" not in text and "unregistered-3" not in text


FULL_DISK = """
import sys
from aerovane.runtime.task_log import MaskedLog

out = MaskedLog("/dev/full", "%(message)s", "INFO")
for _ in range(2000):  # far more than a pipe holds
    print("x" * 200)
out.close()
"""


def test_a_log_that_cannot_be_written_does_not_block_the_task(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env["AEROVANE_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FULL_DISK)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
