"""Exceptions raised by DAG-authoring code and by user tasks.

The engine maps them to task and import outcomes: a skip exception ends an attempt as `skipped`,
a fail exception fails it without retrying, anything else fails it (and retries when allowed).
Names mirror Airflow's (`AirflowSkipException` → `AerovaneSkipException`, ...) so the `airflow`
compatibility shim can alias them one to one.
"""

from __future__ import annotations

__all__ = [
    "AerovaneDagError",
    "AerovaneException",
    "AerovaneFailException",
    "AerovaneNotFoundException",
    "AerovaneSkipException",
    "AerovaneTaskTimeout",
    "DagRunAlreadyExists",
    "ParamValidationError",
]


class AerovaneException(Exception):
    """Base class of Aerovane's own errors, so callers can catch "ours" without catching bugs."""


class AerovaneSkipException(AerovaneException):
    """Raised by a task to end its attempt as `skipped` instead of `success` or `failed`."""


class AerovaneFailException(AerovaneException):
    """Raised by a task to fail immediately, without using its remaining retries."""


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


class DagRunAlreadyExists(AerovaneException):
    """A DAG run with that run id or logical date exists already."""
