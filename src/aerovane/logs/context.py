"""What the current line of work is about: request id, dag_id, run_id, task_id.

One mutable mapping per unit of work (an HTTP request, a task being handled), held in a context
variable so asyncio tasks and the threads `run_in_threadpool` starts see it. It is mutable so a
route dependency can add the DAG a request names after the middleware opened the context (a
context variable set inside a dependency would not reach the middleware's own lines).
`ContextFilter` copies the fields onto each log record; a field passed in `extra=` wins.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

#: The fields a line may carry, in the order JSON lines show them.
FIELDS = ("request_id", "dag_id", "run_id", "task_id")

_current: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "aerovane_log_context", default=None
)


def current() -> dict[str, str]:
    """The fields known now (a copy)."""
    fields = _current.get()
    return dict(fields) if fields else {}


def request_id() -> str | None:
    """The id of the HTTP request being served, if any."""
    fields = _current.get()
    return fields.get("request_id") if fields else None


def bind(**fields: str | None) -> None:
    """Add fields to the open context (none open: nothing happens; use `log_context`)."""
    context = _current.get()
    if context is None:
        return
    context.update({k: v for k, v in fields.items() if v is not None and k in FIELDS})


def open_context(**fields: str | None) -> contextvars.Token[dict[str, str] | None]:
    """Open a context with just `fields` (until `reset_context(token)`, or for the rest of the
    current `contextvars` context: an asyncio task's own copy, say)."""
    return _current.set({k: v for k, v in fields.items() if v is not None and k in FIELDS})


def reset_context(token: contextvars.Token[dict[str, str] | None]) -> None:
    _current.reset(token)


@contextmanager
def log_context(**fields: str | None) -> Iterator[dict[str, str]]:
    """Open a context with `fields` (added to the enclosing one's) for the `with` block."""
    opened = {**current(), **{k: v for k, v in fields.items() if v is not None and k in FIELDS}}
    token = _current.set(opened)
    try:
        yield opened
    finally:
        _current.reset(token)


def ids(obj: object) -> dict[str, str]:
    """`extra=` for a line about `obj` (a task instance or a run): its dag_id, run_id, task_id."""
    return {
        name: value
        for name in ("dag_id", "run_id", "task_id")
        if isinstance(value := getattr(obj, name, None), str)
    }


class ContextFilter(logging.Filter):
    """Puts the open context's fields on each record (not over ones given in `extra=`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _current.get()
        if fields:
            for name, value in fields.items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True
