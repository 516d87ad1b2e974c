from __future__ import annotations

import time
from pathlib import Path

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
