"""Waking the scheduler at once when there is work, instead of polling on a timer.

A scheduler waits on a `Wakeup`: a self-pipe (for the executor and other threads of its own
process) plus a Unix datagram socket under `$AEROVANE_HOME/run/` (for triggers made by another
process on the same host: a separate API server, the CLI, a task's TriggerDagRunOperator).
Senders live in `db.notify`: a writer calls `wake_on_commit(session, "scheduler")`, which sends
one empty datagram to every scheduler socket once its transaction commits; `notify_schedulers()`
does the same at once. A lost or undeliverable datagram only costs one idle-sleep interval,
never correctness.

On PostgreSQL the wake-up goes through `LISTEN/NOTIFY` instead (decisions 0022, 0029): a
`Wakeup` watches a listening connection beside its socket, and the writer's own transaction
carries the NOTIFY, so a trigger made on one host wakes the schedulers (and triggerers) of
every host.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading

from aerovane.db import notify as db_notify


class Wakeup:
    """The scheduler's side: `wait(timeout)` returns early when anyone calls notify.

    It also remembers whether anything but the executor's process-end reports woke it (a
    trigger, a task's recorded outcome, a parsed DAG, or simply time passing), so the scheduler
    can tell a wake-up that only says "a process exited" from one that says "state changed".
    """

    def __init__(self, kind: str = "scheduler", *, cross_host: bool = True) -> None:
        self._changed = True
        #: Guards the pipe against a notify racing close(): a stop request sets the loop's stop
        #: flag and then wakes it, and the loop may already have seen the flag and closed us.
        self._lock = threading.Lock()
        self._closed = False
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        run = db_notify.run_dir()
        run.mkdir(parents=True, exist_ok=True, mode=0o700)  # in case it was removed since
        self.path = run / f"{kind}-{os.getpid()}.sock"
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._read_fd, selectors.EVENT_READ)
        self._selector.register(self._sock, selectors.EVENT_READ)
        #: On PostgreSQL: the LISTEN connection for wake-ups from other hosts.
        self._listener = (
            db_notify.Listener(kind) if cross_host and db_notify.uses_postgres() else None
        )
        self._listening_fd = -1
        self._listen()

    def _listen(self) -> None:
        """(Re)connect the listener if it is down; a new connection may have missed
        notifications, so it counts as a change."""
        if self._listener is None or not self._listener.ensure():
            return
        if self._listening_fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listening_fd)
        self._listening_fd = self._listener.fileno()
        self._selector.register(self._listening_fd, selectors.EVENT_READ)
        self._changed = True

    @property
    def listening(self) -> bool:
        """Whether wake-ups from other hosts can reach us now (PostgreSQL's LISTEN is up)."""
        return self._listener is not None and self._listener.connected

    def notify(self) -> None:
        """Wake the waiting loop: something changed (safe from any thread of this process)."""
        self._changed = True
        self.notify_process_ended()

    def notify_process_ended(self) -> None:
        """Wake the waiting loop for the executor's report that a process ended."""
        with self._lock, contextlib.suppress(BlockingIOError):
            if not self._closed:
                os.write(self._write_fd, b"x")

    def take_changed(self) -> bool:
        """Whether anything but process-end reports woke us since the last call."""
        changed, self._changed = self._changed, False
        return changed

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True if woken by a notification."""
        self._listen()
        if self._listener is not None and not self._listener.connected:
            # Down: come back within the reconnect interval to try again.
            timeout = min(timeout, db_notify.RECONNECT_EVERY)
        events = self._selector.select(timeout)
        if not events:
            self._changed = True  # time passed: schedules and retries may be due
        for key, _ in events:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                if key.fd == self._listening_fd and self._listener is not None:
                    self._changed = True
                    self._listener.drain()
                    if not self._listener.connected:
                        with contextlib.suppress(KeyError, ValueError):
                            self._selector.unregister(self._listening_fd)
                        self._listening_fd = -1
                elif key.fileobj is self._sock:
                    self._changed = True
                    while True:
                        self._sock.recv(64)
                else:
                    while os.read(self._read_fd, 4096):
                        pass
        return bool(events)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._selector.close()
        if self._listener is not None:
            self._listener.close()
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._read_fd)
        os.close(self._write_fd)


def notify_schedulers() -> None:
    """Poke every scheduler on this host (on PostgreSQL: of every host) now. Never raises: a
    missed poke only delays by a tick. A writer wakes them with its own commit instead
    (`db.notify.wake_on_commit`)."""
    db_notify.notify("scheduler")


def notify_triggerers() -> None:
    """Poke every triggerer on this host (a task deferred), like `notify_schedulers`."""
    db_notify.notify("triggerer")
