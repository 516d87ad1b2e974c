"""One base for every background loop (scheduler, DAG processor): `run_once()` to override, an
interval, a wake-up, graceful stop, and a warning when one iteration overruns."""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod


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
                if not self._stop.is_set():
                    self.sleep(self.interval if delay is None else max(0.0, delay))
        finally:
            self.on_stop()
