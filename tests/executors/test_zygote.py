from __future__ import annotations

import os
import queue
import signal
from pathlib import Path

import pytest

from aerovane.executors import zygote
from aerovane.executors.zygote import ProcessFactory


def _target(payload: dict) -> int:
    import gc

    Path(payload["out"]).write_text(str(os.getpid()))
    if payload.get("gc"):
        Path(payload["out"]).write_text(str(gc.isenabled()))
    if payload.get("sleep"):
        import time

        time.sleep(payload["sleep"])
    return payload.get("code", 0)


@pytest.fixture
def factory(monkeypatch: pytest.MonkeyPatch) -> ProcessFactory:
    monkeypatch.setitem(zygote.TARGETS, "test", f"{__name__}:_target")
    f = ProcessFactory()
    f.start()
    yield f
    f.stop()


def test_spawn_reports_pid_and_exit_code(factory: ProcessFactory, tmp_path: Path) -> None:
    events: queue.Queue = queue.Queue()
    out = tmp_path / "pid"
    factory.spawn("test", {"out": str(out), "code": 7}, events.put)
    started = events.get(timeout=60)
    ended = events.get(timeout=60)
    assert started["event"] == "started" and ended == {
        "id": started["id"],
        "event": "exited",
        "code": 7,
    }
    assert int(out.read_text()) == started["pid"] != os.getpid()


def test_kill_reports_signal(factory: ProcessFactory, tmp_path: Path) -> None:
    events: queue.Queue = queue.Queue()
    request_id = factory.spawn("test", {"out": str(tmp_path / "p"), "sleep": 30}, events.put)
    assert events.get(timeout=60)["event"] == "started"
    factory.kill(request_id, signal.SIGKILL)
    assert events.get(timeout=60)["code"] == -signal.SIGKILL


def test_children_collect_garbage_though_start_up_did_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The CLI starts with the cyclic collector off; task and parse processes must not inherit
    that, or user code's reference cycles would never be freed."""
    import gc
    import queue

    monkeypatch.setitem(zygote.TARGETS, "test", f"{__name__}:_target")
    gc.disable()
    try:
        f = ProcessFactory()
        f.start()
    finally:
        gc.enable()
    try:
        events: queue.Queue = queue.Queue()
        out = tmp_path / "gc"
        f.spawn("test", {"out": str(out), "gc": True}, events.put)
        assert events.get(timeout=60)["event"] == "started"
        assert events.get(timeout=60)["code"] == 0
        assert out.read_text() == "True"
    finally:
        f.stop()
