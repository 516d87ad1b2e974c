"""The executor interface the scheduler talks to; a Celery executor implements the same."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TaskKey:
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int


@dataclass(frozen=True)
class TaskWorkload:
    """Everything a worker needs to run one attempt; plain data so it can cross a broker."""

    key: TaskKey
    fileloc: str
    log_path: str
    queue: str = "default"
    priority_weight: int = 1
    #: The environment's live configuration (`control.live.snapshot()`) when it was queued.
    environment: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TaskWorkload:
        key = TaskKey(**data["key"])  # type: ignore[arg-type]
        rest = {k: v for k, v in data.items() if k != "key"}
        return cls(key=key, **rest)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProcessEnded:
    """A task process ended. `code` is its exit status, or -N when killed by signal N.

    `hostname` and `pid` name the process when the executor cannot tell a duplicate's process
    from the attempt's own (Celery): only the process that claimed the attempt is judged.
    """

    key: TaskKey
    code: int
    hostname: str | None = None
    pid: int | None = None


class BaseExecutor(ABC):
    """Accepts workloads within `parallelism`, reports process ends through `events()`.

    `on_event` is called (from any thread) whenever a new event is available, so the scheduler
    can wake at once instead of polling. Local task processes also poke the scheduler when they
    record their outcome, so the local executor's ends are mere process exits
    (`Wakeup.notify_process_ended`); an executor whose tasks run on other hosts, which cannot
    reach this host's wake-up socket, should be given `Wakeup.notify` instead.
    """

    name = "BaseExecutor"
    #: Whether `running` holds only attempts whose process is known to be alive (a local
    #: executor sees every exit). When False (tasks on other hosts), an attempt in `running`
    #: may have lost its host, so the scheduler's dead-task checks do not spare it.
    sees_every_exit = True

    def __init__(self, *, parallelism: int, on_event: Callable[[], None] | None = None) -> None:
        self.parallelism = parallelism
        self._on_event = on_event or (lambda: None)
        self._events: deque[ProcessEnded] = deque()
        self._lock = threading.Lock()

    @property
    @abstractmethod
    def running(self) -> set[TaskKey]:
        """Keys handed over and not yet reported ended."""

    @property
    def open_slots(self) -> int:
        return max(0, self.parallelism - len(self.running))

    @property
    def queued_count(self) -> int:
        """Of `running`, how many are handed over but not yet sent on (Airflow's
        `executor.queued_tasks`); a local executor starts each at once."""
        return 0

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def queue_workload(self, workload: TaskWorkload) -> None: ...

    @abstractmethod
    def kill(self, key: TaskKey) -> None:
        """Ask the process running `key` to stop (SIGTERM to its process group)."""

    @abstractmethod
    def end(self, timeout: float = 15.0) -> None:
        """Stop accepting work, terminate what runs, release resources."""

    def _report(self, event: ProcessEnded) -> None:
        with self._lock:
            self._events.append(event)
        self._on_event()

    def events(self) -> list[ProcessEnded]:
        with self._lock:
            out = list(self._events)
            self._events.clear()
        return out
