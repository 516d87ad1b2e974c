"""The scheduler's side of the Celery executor.

`queue_workload` only puts the workload in an outbox; one thread, the `BrokerLink` loop, does
all broker I/O: it sends the messages (to the task's `queue`), reads results (the exit code,
host and pid of the attempt's process on its worker) and turns them into `ProcessEnded`
events. All in one thread, because Celery's result consumers (the `rpc://` backend of an AMQP
broker) are per thread and kombu connections are not thread-safe.

The database decides the rest. Every few seconds the link reads the task instances of the
attempts it waits for: an attempt still `queued` after `[celery] stalled_task_timeout` has
had no worker claim it (a broker restart lost the message), so the message is sent again (if
both arrive, the second claims nothing); an attempt no longer `queued` or `running` for its try
is forgotten (a worker lost with its result; the scheduler failed or retried it by heartbeat).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.executors.base import BaseExecutor, ProcessEnded, TaskKey, TaskWorkload
from aerovane.services.loop_service import LoopService
from aerovane.states import TaskState

#: How often (seconds) the link checks its attempts against the database.
DB_CHECK_EVERY = 5.0


@dataclass
class _Sent:
    workload: TaskWorkload
    result: Any  # celery.result.AsyncResult
    sent_at: float


class CeleryExecutor(BaseExecutor):
    name = "CeleryExecutor"
    sees_every_exit = False

    def __init__(self, *, parallelism: int, on_event: Callable[[], None] | None = None) -> None:
        super().__init__(parallelism=parallelism, on_event=on_event)
        self._outbox: deque[TaskWorkload] = deque()
        self._sent: dict[TaskKey, _Sent] = {}
        self._keys: set[TaskKey] = set()
        self._keys_lock = threading.Lock()
        self.link = BrokerLink(self)
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> set[TaskKey]:
        with self._keys_lock:
            return set(self._keys)

    @property
    def queued_count(self) -> int:
        return len(self._outbox)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.link.serve, name="celery-link", daemon=True)
            self._thread.start()

    def queue_workload(self, workload: TaskWorkload) -> None:
        with self._keys_lock:
            self._keys.add(workload.key)
        self._outbox.append(workload)
        self.link.wake()

    def kill(self, key: TaskKey) -> None:
        """Revoke the message if no worker took it yet; a running attempt notices a changed task
        instance through its heartbeat and stops itself."""
        self.link.revoke.append(key)
        self.link.wake()

    def end(self, timeout: float = 15.0) -> None:
        """Stop talking to the broker. Attempts on workers go on and record their own outcome."""
        self.link.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _forget(self, key: TaskKey) -> None:
        with self._keys_lock:
            self._keys.discard(key)


class BrokerLink(LoopService):
    """The executor's one thread of broker I/O (see the module docstring)."""

    name = "celery-link"
    busy_poll = 0.05

    def __init__(self, executor: CeleryExecutor) -> None:
        super().__init__(1.0)
        self.executor = executor
        self.revoke: deque[TaskKey] = deque()
        self._wake = threading.Event()
        self._last_db_check = 0.0
        self._stalled_after = get_settings().getfloat("celery", "stalled_task_timeout")
        self._app: Any = None

    def on_start(self) -> None:
        from aerovane.executors.celery.app import celery_app

        self._app = celery_app()

    def wake(self) -> None:
        self._wake.set()

    def sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def run_once(self) -> float:
        self._send_outbox()
        self._revoke()
        self._read_results()
        if time.monotonic() - self._last_db_check >= DB_CHECK_EVERY:
            self._last_db_check = time.monotonic()
            self._check_database()
        return self.busy_poll if self.executor._sent else self.interval

    def _send(self, workload: TaskWorkload) -> None:
        from aerovane.executors.celery.app import TASK_NAME

        result = self._app.send_task(
            TASK_NAME,
            args=[workload.to_dict()],
            queue=workload.queue,
            ignore_result=False,
        )
        self.executor._sent[workload.key] = _Sent(workload, result, time.monotonic())

    def _send_outbox(self) -> None:
        outbox = self.executor._outbox
        while outbox:
            workload = outbox.popleft()
            try:
                self._send(workload)
            except Exception:
                # The broker is down: keep the workload and try again on the next pass.
                outbox.appendleft(workload)
                self.log.warning("could not reach the broker; will retry", exc_info=True)
                return

    def _revoke(self) -> None:
        while self.revoke:
            sent = self.executor._sent.get(self.revoke.popleft())
            if sent is not None:
                self._app.control.revoke(sent.result.id)

    def _read_results(self) -> None:
        sent = self.executor._sent
        if not sent:
            return
        for key, meta in self._states(sent).items():
            if meta is None:
                continue
            del sent[key]
            self.executor._forget(key)
            value = meta.get("result")
            if meta.get("status") == "SUCCESS" and isinstance(value, dict):
                event = ProcessEnded(
                    key=key,
                    code=int(value.get("code", 1)),
                    hostname=value.get("hostname"),
                    pid=value.get("pid"),
                )
            else:  # the task itself failed on the worker (no zygote, an error before the fork)
                self.log.warning("attempt %s failed on its worker: %r", key, value)
                event = ProcessEnded(key=key, code=1)
            self.executor._report(event)

    def _states(self, sent: dict[TaskKey, _Sent]) -> dict[TaskKey, dict[str, Any] | None]:
        """Each waiting attempt's result meta when it is ready, else None; in one round trip for
        key-value backends (Redis), as Airflow's bulk state fetcher."""
        from celery.backends.base import BaseKeyValueStoreBackend
        from celery.states import READY_STATES

        backend = self._app.backend
        items = list(sent.items())
        if isinstance(backend, BaseKeyValueStoreBackend):
            keys = [backend.get_key_for_task(s.result.id) for _, s in items]
            values = backend.mget(keys)
            out: dict[TaskKey, dict[str, Any] | None] = {}
            for (key, _), raw in zip(items, values, strict=True):
                meta = backend.decode_result(raw) if raw else None
                out[key] = meta if meta and meta.get("status") in READY_STATES else None
            return out
        return {
            key: {"status": s.result.state, "result": s.result.result} if s.result.ready() else None
            for key, s in items
        }

    def _check_database(self) -> None:
        sent = self.executor._sent
        if not sent:
            return
        ti = models.TaskInstance
        keys = list(sent)
        states: dict[TaskKey, str] = {}
        with create_session(readonly=True) as session:
            for start in range(0, len(keys), 200):
                chunk = keys[start : start + 200]
                rows = session.execute(
                    select(
                        ti.dag_id, ti.task_id, ti.run_id, ti.map_index, ti.try_number, ti.state
                    ).where(
                        tuple_(ti.dag_id, ti.task_id, ti.run_id, ti.map_index).in_(
                            [(k.dag_id, k.task_id, k.run_id, k.map_index) for k in chunk]
                        )
                    )
                ).all()
                for row in rows:
                    states[TaskKey(*row[:5])] = row[5]
        now = time.monotonic()
        for key, item in list(sent.items()):
            state = states.get(key)
            if state == TaskState.QUEUED.value:
                if now - item.sent_at >= self._stalled_after:
                    self.log.warning("%s still queued with no worker; sending it again", key)
                    self._send(item.workload)
            elif state != TaskState.RUNNING.value:
                del sent[key]
                self.executor._forget(key)
