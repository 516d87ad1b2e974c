"""Whether a process the metadata names (a scheduler job, a task attempt) is still alive here.

A row records a host name, a pid and when the process wrote it. On the same host the answer
needs no heartbeat: the pid either names no process, a zombie, or a process that started after
the row was written (the pid was reused, e.g. after a reboot), and then the recorded process is
gone. Anything else counts as alive, so a mistake can only delay recovery, never run a task
whose process still runs a second time. Linux only (`/proc`), as the zygote is.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import time
from pathlib import Path

from aerovane.db.types import utcnow

#: A process that started this much later than its row was written is another process. The
#: margin absorbs the clock's tick (10 ms) and small wall-clock adjustments between the write
#: and the check; a pid reused within it is left to the heartbeat checks.
PID_REUSE_MARGIN = dt.timedelta(seconds=1)


@functools.cache
def this_host() -> str:
    """The name jobs and task attempts record (`socket.getfqdn()`, as the task runner does)."""
    return socket.getfqdn()


def process_started_at(pid: int) -> dt.datetime | None:
    """When the live process `pid` started (wall clock), or None if none runs (or a zombie).

    From its start in clock ticks since boot, measured against the boot clock now, so the
    answer is as exact as the wall clock now is (the boot time in /proc/stat is whole seconds).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    state, start_ticks = fields[0], int(fields[19])
    if state in (b"Z", b"X"):
        return None
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    return utcnow() - dt.timedelta(seconds=max(0.0, age))


def process_gone(pid: int | None, *, recorded_at: dt.datetime | None) -> bool:
    """True when the process that recorded `pid` at `recorded_at` on this host is surely gone."""
    if not pid or pid <= 0 or not Path("/proc/self/stat").exists():
        return False
    started = process_started_at(pid)
    if started is None:
        return True
    if recorded_at is None:
        return False
    if recorded_at.tzinfo is None:
        recorded_at = recorded_at.replace(tzinfo=dt.UTC)
    return started > recorded_at + PID_REUSE_MARGIN
