"""Waking the scheduler at once when there is work, instead of polling on a timer.

A scheduler waits on a `Wakeup`: a self-pipe (for the executor and other threads of its own
process) plus a Unix datagram socket under `$AEROVANE_HOME/run/` (for triggers made by another
process on the same host: a separate API server, the CLI, a task's TriggerDagRunOperator).
`notify_schedulers()` sends one empty datagram to every scheduler socket it finds; a lost or
undeliverable datagram only costs one idle-sleep interval, never correctness.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import selectors
import socket
import tempfile
from pathlib import Path

from aerovane.config import get_settings


def _run_dir() -> Path:
    home = get_settings().home
    run = home / "run"
    # sun_path is limited to 108 bytes; deep homes (test tmp dirs) use a short hashed dir.
    if len(str(run)) > 70:
        digest = hashlib.sha256(str(home).encode()).hexdigest()[:16]
        run = Path(tempfile.gettempdir()) / f"aerovane-{digest}"
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    return run


class Wakeup:
    """The scheduler's side: `wait(timeout)` returns early when anyone calls notify."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self.path = _run_dir() / f"scheduler-{os.getpid()}.sock"
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._read_fd, selectors.EVENT_READ)
        self._selector.register(self._sock, selectors.EVENT_READ)

    def notify(self) -> None:
        """Wake the waiting loop (safe from any thread of this process)."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_fd, b"x")

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True if woken by a notification."""
        events = self._selector.select(timeout)
        for key, _ in events:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                if key.fileobj is self._sock:
                    while True:
                        self._sock.recv(64)
                else:
                    while os.read(self._read_fd, 4096):
                        pass
        return bool(events)

    def close(self) -> None:
        self._selector.close()
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._read_fd)
        os.close(self._write_fd)


def notify_schedulers() -> None:
    """Poke every scheduler on this host. Never raises: a missed poke only delays by a tick."""
    try:
        run = _run_dir()
        paths = list(run.glob("scheduler-*.sock"))
    except OSError:
        return
    if not paths:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for path in paths:
            try:
                sock.sendto(b"", str(path))
            except ConnectionRefusedError:
                # The scheduler that owned it is gone.
                with contextlib.suppress(OSError):
                    path.unlink()
            except OSError:
                pass
