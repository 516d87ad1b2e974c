"""`BaseTrigger` and `TriggerEvent`: what a user subclasses to wait for something without a
worker slot.

A trigger is rebuilt in the triggerer from `serialize()` (its class path and JSON-safe keyword
arguments), so it must hold no state that `serialize()` does not return. `run()` is an async
generator that yields a `TriggerEvent` when the condition holds; the first event resumes the
task. Triggers run together on one asyncio loop: they must never block it.
"""

from __future__ import annotations

import abc
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["BaseTrigger", "TriggerEvent", "import_trigger"]


class TriggerEvent:
    """What a trigger yields: a JSON-safe payload handed to the task's resume method as
    `event`."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"TriggerEvent<{self.payload!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload

    __hash__ = None  # type: ignore[assignment]


class BaseTrigger(abc.ABC):
    """Subclass with `serialize()` (class path, kwargs) and `async run()`."""

    #: Set by the triggerer before `run()`: the read-only metadata client (the one tasks get as
    #: `ti.metadata`), for triggers that wait on other DAGs. Its calls block: use a thread.
    metadata: Any = None

    def __init__(self, **kwargs: Any) -> None:
        # Set by the triggerer, for the log lines that reach the task's log.
        self.task_instance: Any = None
        self.trigger_id: int | None = None

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"aerovane.triggers.{type(self).__name__}")

    @abc.abstractmethod
    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the keyword arguments that rebuild this trigger."""

    @abc.abstractmethod
    def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield a `TriggerEvent` once the condition holds (an async generator)."""

    def cleanup(self) -> None:  # noqa: B027 - optional hook
        """Called when the trigger stops running (event, cancellation or error)."""

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        return f"<{classpath} {args}>"


def import_trigger(classpath: str) -> type[BaseTrigger]:
    """The trigger class named `module.Class`; a clear error for anything else."""
    module_name, _, class_name = classpath.rpartition(".")
    if not module_name:
        raise ImportError(f"trigger class path {classpath!r} has no module")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseTrigger)):
        raise ImportError(f"{classpath!r} is not a BaseTrigger subclass")
    return cls
