"""Fixtures for component log tests: the component logging setup writing to a buffer, and the
real API and proxy servers of `tests.proxy` with their accounts."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.conftest import accounts, admin
from tests.proxy.conftest import account

__all__ = ["account", "accounts", "admin"]


class LogBuffer(io.StringIO):
    """What the component's log handler wrote, written from server threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return super().write(text)

    def lines(self) -> list[str]:
        with self._lock:
            return self.getvalue().splitlines()

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def wait_for(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first JSON line `match` accepts, waiting for it up to 120 s (lines are written
        by server threads, some after the response went out)."""
        deadline = time.monotonic() + 120
        while True:
            found = [line for line in self.json_lines() if match(line)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no such log line in {self.lines()}")
            time.sleep(0.02)


@pytest.fixture
def component_log(db: Any) -> Iterator[Callable[[], LogBuffer]]:
    """`configure()` applies the component logging setup under the current settings, its
    handler writing to a buffer instead of stderr; the previous logging state comes back."""
    from aerovane.logs.setup import QUIET_LOGGERS, logging_config

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}

    def configure() -> LogBuffer:
        buffer = LogBuffer()
        config = logging_config()
        config["handlers"]["console"]["stream"] = buffer
        logging.config.dictConfig(config)
        return buffer

    yield configure
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
