"""Exceptions raised by DAG-authoring code and by user tasks.

The engine maps them to task and import outcomes: a skip exception ends an attempt as `skipped`,
a fail exception fails it without retrying, anything else fails it (and retries when allowed).
Names mirror Airflow's (`AirflowSkipException` → `AerovaneSkipException`, ...) so the `airflow`
compatibility shim can alias them one to one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = [
    "AerovaneBadRequest",
    "AerovaneConfigException",
    "AerovaneDagCycleException",
    "AerovaneDagError",
    "AerovaneException",
    "AerovaneFailException",
    "AerovaneNotFoundException",
    "AerovaneRescheduleException",
    "AerovaneSensorTimeout",
    "AerovaneSkipException",
    "AerovaneTaskTerminated",
    "AerovaneTaskTimeout",
    "DagNotFound",
    "DagRunAlreadyExists",
    "DuplicateTaskIdFound",
    "ParamValidationError",
    "RemovedInAirflow3Warning",
    "TaskDeferralError",
    "TaskDeferred",
    "TaskNotFound",
]


class AerovaneException(Exception):
    """Base class of Aerovane's own errors, so callers can catch "ours" without catching bugs."""


class AerovaneSkipException(AerovaneException):
    """Raised by a task to end its attempt as `skipped` instead of `success` or `failed`."""


class AerovaneFailException(AerovaneException):
    """Raised by a task to fail immediately, without using its remaining retries."""


class AerovaneSensorTimeout(AerovaneException):
    """A sensor's `timeout` passed before its condition was met; the attempt fails without
    retrying, as in Airflow."""


class AerovaneRescheduleException(AerovaneException):
    """Raised by a sensor in `reschedule` mode: end this attempt as `up_for_reschedule` and run
    it again, in the same try, at `reschedule_date`."""

    def __init__(self, reschedule_date: dt.datetime) -> None:
        super().__init__(f"Rescheduled to {reschedule_date.isoformat()}")
        self.reschedule_date = reschedule_date


class TaskDeferred(BaseException):
    """Raised by `BaseOperator.defer()`: end the attempt as `deferred` and hand `trigger` to the
    triggerer; the task resumes in `method_name` when it fires (or fails after `timeout`).

    A `BaseException`, as in Airflow, so a task's `except Exception:` cannot swallow it."""

    def __init__(
        self,
        *,
        trigger: Any,
        method_name: str,
        kwargs: dict[str, Any] | None = None,
        timeout: dt.timedelta | None = None,
    ) -> None:
        super().__init__()
        self.trigger = trigger
        self.method_name = method_name
        self.kwargs = kwargs
        self.timeout = timeout
        if timeout is not None and not isinstance(timeout, dt.timedelta):
            raise ValueError("Timeout value must be a timedelta")

    def __repr__(self) -> str:
        return f"<TaskDeferred trigger={self.trigger} method={self.method_name}>"


class TaskDeferralError(AerovaneException):
    """A deferred task could not resume: its trigger timed out or failed."""


class AerovaneTaskTimeout(BaseException):
    """Raised inside a task process when `execution_timeout` expires.

    Like Airflow's `AirflowTaskTimeout` this derives from `BaseException`, so a task's own
    `except Exception:` blocks cannot swallow the timeout and keep running.
    """


class AerovaneDagError(AerovaneException, ValueError):
    """A DAG definition is invalid: bad id, duplicate task id, cycle, bad schedule, ...

    Subclasses `ValueError` because each of these is a bad value supplied by the DAG author.
    """


class ParamValidationError(AerovaneException, ValueError):
    """A DAG param is missing or does not satisfy its JSON schema."""


class AerovaneNotFoundException(AerovaneException):
    """A named object (connection, task, ...) does not exist."""


class AerovaneTaskTerminated(BaseException):
    """The task process was told to stop (SIGTERM)."""


class AerovaneConfigException(AerovaneException):
    """A configuration option is unknown, unreadable or has a bad value."""


class AerovaneBadRequest(AerovaneException):
    """A request (e.g. an argument to a client call) is invalid."""


class AerovaneDagCycleException(AerovaneDagError):
    """A DAG's dependencies form a cycle."""


class DuplicateTaskIdFound(AerovaneDagError):
    """Two tasks of one DAG have the same id."""


class DagNotFound(AerovaneNotFoundException):
    """No DAG with the given id."""


class TaskNotFound(AerovaneNotFoundException):
    """No task with the given id."""


class RemovedInAirflow3Warning(DeprecationWarning):
    """What Airflow 2 warns about when a DAG uses something Airflow 3 removes."""


class DagRunAlreadyExists(AerovaneException):
    """A DAG run with that run id or logical date exists already."""
