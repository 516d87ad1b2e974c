"""The local executor: one forked OS process per task attempt, via the zygote."""

from __future__ import annotations

import threading
from collections.abc import Callable

from aerovane.executors.base import BaseExecutor, ProcessEnded, TaskKey, TaskWorkload
from aerovane.executors.zygote import Message, ProcessFactory


class LocalExecutor(BaseExecutor):
    name = "LocalExecutor"

    def __init__(
        self,
        *,
        parallelism: int,
        factory: ProcessFactory,
        on_event: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(parallelism=parallelism, on_event=on_event)
        self._factory = factory
        self._running: dict[TaskKey, str] = {}
        self._pids: dict[TaskKey, int] = {}
        self._run_lock = threading.Lock()

    @property
    def running(self) -> set[TaskKey]:
        with self._run_lock:
            return set(self._running)

    def pid_of(self, key: TaskKey) -> int | None:
        with self._run_lock:
            return self._pids.get(key)

    def start(self) -> None:
        if not self._factory.zygote.alive:
            self._factory.start()

    def queue_workload(self, workload: TaskWorkload) -> None:
        key = workload.key

        def on_message(msg: Message) -> None:
            if msg["event"] == "started":
                with self._run_lock:
                    self._pids[key] = msg["pid"]
            elif msg["event"] == "exited":
                with self._run_lock:
                    self._running.pop(key, None)
                    self._pids.pop(key, None)
                self._report(ProcessEnded(key=key, code=int(msg["code"])))

        with self._run_lock:
            self._running[key] = ""
        request_id = self._factory.spawn("task", workload.to_dict(), on_message)
        with self._run_lock:
            if key in self._running:
                self._running[key] = request_id

    def kill(self, key: TaskKey) -> None:
        with self._run_lock:
            request_id = self._running.get(key)
        if request_id:
            self._factory.kill(request_id)

    def end(self, timeout: float = 15.0) -> None:
        """SIGTERM every running attempt and wait for their exits (they record a failure)."""
        import time

        for key in self.running:
            self.kill(key)
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
