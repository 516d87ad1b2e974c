"""The task attempt's log file, written with secrets masked.

The process's stdout and stderr (file descriptors 1 and 2, so also whatever a subprocess or a
C extension writes to them) are a pipe; a thread reads it line by line, masks the secrets the
process knows by then (`aerovane.authoring.secrets_masker`) and appends the lines to the log
file. Logging records go to stderr after the masker has redacted their arguments by key name.
`close()` drains everything the process wrote before the attempt's process exits.

A line is masked as a whole, so a secret is found even when it arrives in pieces; a secret
spanning lines is masked line by line (each of its lines is a secret too). A line longer than
`MAX_LINE_BYTES` is written in parts.
"""

from __future__ import annotations

import _thread
import contextlib
import io
import logging
import os
import selectors
import sys
from pathlib import Path
from typing import TextIO

from aerovane.authoring.secrets_masker import get_masker

__all__ = ["MAX_LINE_BYTES", "MaskedLog", "MaskedStream"]

MAX_LINE_BYTES = 1 << 16
_READ_BYTES = 1 << 16


class MaskedLog:
    """Fds 1 and 2 of this process → masking thread → `log_path` (appended to)."""

    def __init__(self, log_path: str | os.PathLike[str], log_format: str, level: str) -> None:
        path = Path(log_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._read, write = os.pipe()
        self._stop_read, self._stop_write = os.pipe()
        self._pending = b""
        os.dup2(write, 1)
        os.dup2(write, 2)
        os.close(write)
        # A bare thread: `threading.Thread.start()` waits until the new thread has run, which
        # on a busy machine costs milliseconds per attempt. `_done` is held until it finishes.
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._pump, ())
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(log_format))
        handler.addFilter(get_masker())
        root.addHandler(handler)
        root.setLevel(level)

    def close(self) -> None:
        """Flush, stop writing to the pipe, and wait until the thread has written what this
        process wrote. A process the task left running keeps its output to itself."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        os.write(self._stop_write, b"x")
        self._done.acquire()
        for fd in (self._read, self._stop_read, self._stop_write, self._file):
            os.close(fd)

    def _pump(self) -> None:
        try:
            self._copy()
        finally:
            self._done.release()

    def _copy(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._read, selectors.EVENT_READ)
        selector.register(self._stop_read, selectors.EVENT_READ)
        stopping = False
        with selector:
            while True:
                # After the stop request, only what is already in the pipe is read.
                ready = {key.fd for key, _ in selector.select(0 if stopping else None)}
                if self._read in ready:
                    chunk = os.read(self._read, _READ_BYTES)
                    if not chunk:
                        break
                    self._feed(chunk)
                elif stopping or self._stop_read in ready:
                    if stopping:
                        break
                    stopping = True
        if self._pending:
            self._write(self._pending)
            self._pending = b""

    def _feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        end = data.rfind(b"\n") + 1
        complete, self._pending = data[:end], data[end:]
        if complete:
            self._write(complete)
        while len(self._pending) > MAX_LINE_BYTES:
            self._write(self._pending[:MAX_LINE_BYTES])
            self._pending = self._pending[MAX_LINE_BYTES:]

    def _write(self, data: bytes) -> None:
        masker = get_masker()
        if masker.active:
            text = masker.redact_text(data.decode("utf-8", errors="surrogateescape"))
            data = text.encode("utf-8", errors="surrogateescape")
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._file, view)
                view = view[written:]
        except OSError:
            # A full disk loses log lines, but the pipe keeps being drained: a task blocked
            # writing its output would never finish.
            return


class MaskedStream(io.TextIOBase):
    """A text stream that masks known secrets in what is written to it, then passes it on
    (`aerovane tasks test` prints the task's output to the terminal through one)."""

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(get_masker().redact_text(text))
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")
