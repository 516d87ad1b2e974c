"""One base for every background loop (scheduler, DAG processor): `run_once()` to override, an
interval, a wake-up, graceful stop, a warning when one iteration overruns, and handing freed
heap memory back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

#: At most this often (seconds) a process returns its allocator's free pages to the system.
TRIM_EVERY = 2.0
_last_trim = 0.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not (name := ctypes.util.find_library("c")):
        return None
    try:
        return ctypes.CDLL(name).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_free_memory() -> None:
    """Return the C allocator's free pages to the system, at most every TRIM_EVERY seconds.

    CPython hands freed objects back to malloc, and glibc keeps the pages for reuse: after a
    burst (a 1,000-task DAG's parse result, a big API response) a long-running process would
    sit on tens of megabytes it no longer uses. malloc_trim costs a fraction of a millisecond.
    """
    global _last_trim
    now = time.monotonic()
    if now - _last_trim < TRIM_EVERY:
        return
    _last_trim = now
    if (trim := _malloc_trim()) is not None:
        trim(0)


class LoopService(ABC):
    name = "loop"
    #: Warn when one iteration takes longer than this many seconds.
    overrun_warning = 5.0

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self.log = logging.getLogger(f"aerovane.{self.name}")

    @abstractmethod
    def run_once(self) -> float | None:
        """One iteration; may return how long to sleep before the next (default `interval`)."""

    def on_start(self) -> None:  # noqa: B027 - optional hook
        """Called once before the first iteration."""

    def on_stop(self) -> None:  # noqa: B027 - optional hook
        """Called once after the last iteration."""

    def sleep(self, seconds: float) -> None:
        """Wait between iterations; subclasses with a wake-up channel override this."""
        self._stop.wait(seconds)

    def stop(self) -> None:
        self._stop.set()
        self.wake()

    def wake(self) -> None:  # noqa: B027 - optional hook
        """Cut the current sleep short."""

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def serve(self) -> None:
        """Run until `stop()`; an iteration that raises is logged and the loop goes on."""
        self.on_start()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                delay: float | None = self.interval
                try:
                    delay = self.run_once()
                except Exception:
                    self.log.exception("%s iteration failed", self.name)
                    delay = self.interval
                took = time.monotonic() - started
                if took > self.overrun_warning:
                    self.log.warning("%s iteration took %.1fs", self.name, took)
                release_free_memory()
                if not self._stop.is_set():
                    self.sleep(self.interval if delay is None else max(0.0, delay))
        finally:
            self.on_stop()
