"""The local executor: one forked OS process per task attempt, via the zygote.

With `[logging] remote_logging`, each ended attempt's log is copied to the remote store from
here, on the scheduler's host where the log was written, in a thread of its own (an upload
never holds up the next attempt's start or end).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
        self._uploads: ThreadPoolExecutor | None = None

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
        if self._uploads is None:
            self._uploads = ThreadPoolExecutor(1, thread_name_prefix="remote-log-copy")

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
                self._copy_log(workload.log_path)

        with self._run_lock:
            self._running[key] = ""
        request_id = self._factory.spawn("task", workload.to_dict(), on_message)
        with self._run_lock:
            if key in self._running:
                self._running[key] = request_id

    def _copy_log(self, path: str) -> None:
        from aerovane.services import remote_logs

        if remote_logs.configured() is None:
            return
        uploads = self._uploads
        try:
            if uploads is not None:
                uploads.submit(remote_logs.upload_attempt_log, Path(path))
                return
        except RuntimeError:  # `end` shut the thread down meanwhile
            pass
        remote_logs.upload_attempt_log(Path(path))

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
        uploads, self._uploads = self._uploads, None
        if uploads is not None:
            uploads.shutdown(wait=True)  # the copies of the logs of what just ended
