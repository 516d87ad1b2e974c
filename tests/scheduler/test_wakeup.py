from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aerovane.scheduler.wakeup import Wakeup, notify_schedulers


def test_cross_process_notification_wakes_at_once(aerovane_home: Path) -> None:
    wakeup = Wakeup()
    try:
        assert wakeup.wait(0.01) is False
        notify_schedulers()
        started = time.monotonic()
        assert wakeup.wait(5) is True
        assert time.monotonic() - started < 1
        wakeup.notify()
        assert wakeup.wait(5) is True
        assert wakeup.wait(0.01) is False  # drained
    finally:
        wakeup.close()
    assert not wakeup.path.exists()
    notify_schedulers()  # nobody listening: never raises


def test_wakeup_tells_process_exits_from_changes(aerovane_home: Path) -> None:
    wakeup = Wakeup()
    try:
        assert wakeup.take_changed() is True  # a new scheduler has everything to look at
        assert wakeup.take_changed() is False
        wakeup.notify_process_ended()
        assert wakeup.wait(5) is True
        assert wakeup.take_changed() is False  # only an exit
        notify_schedulers()  # another process: a trigger, a task's recorded outcome
        assert wakeup.wait(5) is True
        assert wakeup.take_changed() is True
        wakeup.notify()  # this process: a parsed DAG
        assert wakeup.wait(5) is True
        assert wakeup.take_changed() is True
        assert wakeup.wait(0.01) is False  # time passed: schedules and retries may be due
        assert wakeup.take_changed() is True
    finally:
        wakeup.close()


def test_notify_after_close_is_harmless(aerovane_home: Path) -> None:
    """A stop request sets the loop's stop flag, then wakes it; the loop may have seen the
    flag and closed its wake-up in between (CI once failed on EBADF here)."""
    wakeup = Wakeup()
    wakeup.close()
    # A new pipe may now reuse the closed descriptor numbers; notify must not write to it.
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    try:
        wakeup.notify()
        wakeup.notify_process_ended()
        wakeup.close()  # twice: a no-op
        with pytest.raises(BlockingIOError):
            os.read(read_fd, 1)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_pass_skipped_for_exits_still_wakes_for_the_next_retry(db: Path) -> None:
    """A pass that only saw process exits must not oversleep a retry the last pass saw."""
    import datetime as dt

    from aerovane.db.types import utcnow
    from aerovane.executors.local import LocalExecutor
    from aerovane.executors.zygote import ProcessFactory
    from aerovane.scheduler.job import Scheduler

    factory = ProcessFactory()
    factory.start()
    # Only this process's wake-ups: one from another test's process sharing the database
    # (PostgreSQL's NOTIFY) would rightly make the pass a full one.
    scheduler = Scheduler(
        LocalExecutor(parallelism=4, factory=factory), wakeup=Wakeup(cross_host=False)
    )
    try:
        assert scheduler.interval >= 1.0
        scheduler.run_once()  # a full pass: nothing to do
        # However slow this machine is, the next full pass is not due before the retry.
        scheduler.interval = 3600.0
        scheduler._last_full_pass = time.monotonic()
        scheduler._next_retry = utcnow() + dt.timedelta(seconds=0.3)
        scheduler.wakeup.notify_process_ended()
        scheduler.wakeup.wait(1)
        assert scheduler.run_once() <= 0.3
    finally:
        scheduler.wakeup.close()
        factory.stop()


def test_schedulers_started_after_a_listing_are_poked(
    aerovane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run directory's listing is reused between triggers, but never hides a scheduler
    that started since: a change of the directory, or the listing's age, lists it again.
    (The sockets themselves: on PostgreSQL `notify_schedulers` sends a NOTIFY instead.)"""
    import socket

    from aerovane.db import notify as module

    own = Wakeup()
    other = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    other.settimeout(5)
    try:
        module._notify_sockets("scheduler")
        assert own.wait(5) is True
        # Another host process's scheduler starts: the directory changes.
        other_path = own.path.parent / "scheduler-999999.sock"
        other.bind(str(other_path))
        module._notify_sockets("scheduler")
        assert other.recv(64) == b"" and own.wait(5) is True
        # A socket that appears without the directory's mtime moving (timestamp granularity)
        # is found once the listing is LISTING_TTL old.
        run = own.path.parent
        mtime, listed_at, _ = module._listings[(run, "scheduler")]
        module._listings[(run, "scheduler")] = (mtime, listed_at, [str(own.path)])
        module._notify_sockets("scheduler")
        other.settimeout(0.05)
        with pytest.raises(TimeoutError):
            other.recv(64)
        monkeypatch.setattr(module, "LISTING_TTL", 0.0)
        module._notify_sockets("scheduler")
        other.settimeout(5)
        assert other.recv(64) == b""
    finally:
        own.close()
        other.close()


def test_triggerers_and_schedulers_are_poked_separately(aerovane_home: Path) -> None:
    from aerovane.scheduler.wakeup import notify_triggerers

    scheduler, triggerer = Wakeup(), Wakeup("triggerer")
    try:
        scheduler.wait(0.01), triggerer.wait(0.01)
        notify_triggerers()
        assert triggerer.wait(5) is True
        assert scheduler.wait(0.01) is False
        notify_schedulers()
        assert scheduler.wait(5) is True
        assert triggerer.wait(0.01) is False
    finally:
        scheduler.close()
        triggerer.close()
