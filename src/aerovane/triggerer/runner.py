"""The asyncio side of the triggerer: one event loop in its own thread runs every trigger.

The loop service (`triggerer.job`) tells it which triggers to run (`update`) and collects what
happened (`drain`): events and failures. A trigger's log lines go to its task's log file.
Nothing here touches the database (triggers that read metadata get the client they are handed).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aerovane.authoring.triggers.base import BaseTrigger, TriggerEvent, import_trigger
from aerovane.logs.context import open_context
from aerovane.services.triggers import TriggerWork

log = logging.getLogger("aerovane.triggerer")

LOG_FORMAT = "[%(asctime)s] {%(filename)s:%(lineno)d} %(levelname)s - %(message)s"

#: The task log file of the trigger running in the current asyncio task.
_task_log: contextvars.ContextVar[Path | None] = contextvars.ContextVar("task_log", default=None)


class TaskLogHandler(logging.Handler):
    """Appends a trigger's log records to its task's log file (masked, like the task's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        path = _task_log.get()
        if path is None:
            return
        try:
            from aerovane.authoring.secrets_masker import redact

            line = redact(self.format(record))
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(f"{line}\n")
        except Exception:  # noqa: BLE001 - logging must never break the trigger
            self.handleError(record)


@dataclass
class Outcomes:
    """What the loop reports back: fired events and failures, by trigger id."""

    events: dict[int, Any] = field(default_factory=dict)
    failures: dict[int, tuple[str, list[str]]] = field(default_factory=dict)


class TriggerRunner:
    """Owns the event loop thread; thread-safe `update()` and `drain()`."""

    def __init__(
        self,
        on_outcome: Callable[[], None],
        log_path: Callable[..., Path],
        metadata: Any = None,
    ) -> None:
        self._on_outcome = on_outcome
        self._log_path = log_path
        #: Handed to every trigger as `trigger.metadata` (the task runtime's read-only client).
        self._metadata = metadata
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="trigger-loop", daemon=True)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        #: Triggers that reported an outcome not yet written: not to be started again.
        self._done: set[int] = set()
        self._lock = threading.Lock()
        self._outcomes = Outcomes()
        self._handler = TaskLogHandler()

    @property
    def running_ids(self) -> set[int]:
        with self._lock:
            return set(self._tasks)

    def start(self) -> None:
        triggers_log = logging.getLogger("aerovane.triggers")
        triggers_log.addHandler(self._handler)
        if triggers_log.getEffectiveLevel() > logging.INFO:
            triggers_log.setLevel(logging.INFO)
        self._thread.start()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def stop(self) -> None:
        """Cancel every trigger and stop the loop (the triggers stay in the database)."""

        async def cancel_all() -> None:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()
        logging.getLogger("aerovane.triggers").removeHandler(self._handler)

    def update(self, wanted: list[TriggerWork]) -> None:
        """Start the triggers in `wanted` not yet running; cancel running ones not in it."""
        wanted_ids = {w.id for w in wanted}
        with self._lock:
            running = set(self._tasks)
            self._done &= wanted_ids
            skip = running | self._done
        for work in wanted:
            if work.id not in skip:
                self._loop.call_soon_threadsafe(self._start, work)
        for trigger_id in running - wanted_ids:
            self._loop.call_soon_threadsafe(self._cancel, trigger_id)

    def drain(self) -> Outcomes:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, Outcomes()
        return outcomes

    def put_back(self, outcomes: Outcomes) -> None:
        """Return drained outcomes that could not be written (the next drain has them again)."""
        with self._lock:
            for trigger_id, event in outcomes.events.items():
                self._outcomes.events.setdefault(trigger_id, event)
            for trigger_id, failure in outcomes.failures.items():
                self._outcomes.failures.setdefault(trigger_id, failure)

    # -- on the loop ----------------------------------------------------------------------------

    def _start(self, work: TriggerWork) -> None:
        if work.id in self._tasks:
            return
        path = None
        context = contextvars.copy_context()
        if work.task_key is not None:
            dag_id, task_id, run_id, map_index, try_number = work.task_key
            path = self._log_path(dag_id, run_id, task_id, try_number, map_index)
            # The triggerer's own lines about this trigger name its task instance.
            context.run(open_context, dag_id=dag_id, run_id=run_id, task_id=task_id)
        context.run(_task_log.set, path)
        task = self._loop.create_task(self._run_trigger(work), context=context)
        with self._lock:
            self._tasks[work.id] = task

    def _cancel(self, trigger_id: int) -> None:
        task = self._tasks.get(trigger_id)
        if task is not None:
            task.cancel()

    async def _run_trigger(self, work: TriggerWork) -> None:
        trigger: BaseTrigger | None = None
        try:
            trigger = import_trigger(work.classpath)(**work.kwargs)
            trigger.trigger_id = work.id
            trigger.metadata = self._metadata
            trigger.log.info("trigger %s starting", trigger)
            async for event in trigger.run():
                if not isinstance(event, TriggerEvent):
                    raise TypeError(f"trigger yielded {event!r}, not a TriggerEvent")
                trigger.log.info("Trigger fired event %r", event.payload)
                self._report(work.id, event=event.payload)
                return
            raise RuntimeError("Trigger exited without sending an event")
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken trigger fails its task
            trace = traceback.format_exception(exc)
            logging.getLogger("aerovane.triggers").error("Trigger failed:\n%s", "".join(trace))
            self._report(work.id, failure=(repr(exc), trace))
        finally:
            if trigger is not None:
                try:
                    trigger.cleanup()
                except Exception:
                    log.exception("cleanup of trigger %s failed", work.id)
            with self._lock:
                self._tasks.pop(work.id, None)

    def _report(
        self, trigger_id: int, *, event: Any = None, failure: tuple[str, list[str]] | None = None
    ) -> None:
        with self._lock:
            if failure is not None:
                self._outcomes.failures[trigger_id] = failure
            else:
                self._outcomes.events[trigger_id] = event
            self._done.add(trigger_id)
        self._on_outcome()
