"""Listeners: user objects told about task-instance state changes (Airflow's listener API).

A listener is a module or object registered by a plugin (`AirflowPlugin.listeners`) whose
functions are marked with `hookimpl` and named after Airflow 2.10's task-instance hookspecs:
`on_task_instance_running`, `on_task_instance_success`, `on_task_instance_failed`. As with
pluggy, an implementation receives only the arguments it names. No database session is handed
to user code (`session` is None). A listener that raises is logged; the task's outcome stands.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = ["TASK_INSTANCE_HOOKS", "hookimpl", "notify"]

log = logging.getLogger("aerovane.listeners")

F = TypeVar("F", bound=Callable[..., Any])

#: The hookspecs and the arguments each receives.
TASK_INSTANCE_HOOKS: dict[str, tuple[str, ...]] = {
    "on_task_instance_running": ("previous_state", "task_instance", "session"),
    "on_task_instance_success": ("previous_state", "task_instance", "session"),
    "on_task_instance_failed": ("previous_state", "task_instance", "error", "session"),
}

_MARK = "airflow_impl"  # the attribute pluggy's HookimplMarker("airflow") sets


def hookimpl(function: F | None = None, **options: Any) -> Any:
    """Mark a listener function (`@hookimpl` or `@hookimpl(...)`, as pluggy's marker)."""

    def mark(fn: F) -> F:
        setattr(fn, _MARK, dict(options))
        return fn

    return mark(function) if function is not None else mark


def _implementation(listener: Any, hook: str) -> Callable[..., Any] | None:
    fn = getattr(listener, hook, None)
    if fn is None or not callable(fn) or not hasattr(fn, _MARK):
        return None
    return fn


def notify(listeners: Iterable[Any], hook: str, **arguments: Any) -> None:
    """Call `hook` on every listener that implements it, each with the arguments it names."""
    if hook not in TASK_INSTANCE_HOOKS:
        raise ValueError(f"unknown listener hook {hook!r}")
    for listener in listeners:
        fn = _implementation(listener, hook)
        if fn is None:
            continue
        try:
            names = inspect.signature(fn).parameters
            fn(**{name: value for name, value in arguments.items() if name in names})
        except Exception:
            log.exception("Listener %r failed in %s", listener, hook)
