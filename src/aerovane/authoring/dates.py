"""Airflow 2's `airflow.utils.dates` helpers that DAG files still use (`days_ago`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aerovane.authoring.timezone import utcnow

__all__ = ["days_ago"]


def days_ago(n: int, hour: int = 0, minute: int = 0, second: int = 0, microsecond: int = 0) -> Any:
    """Deprecated in Airflow: midnight UTC (or the given time) `n` days ago, as pendulum."""
    today = utcnow().replace(hour=hour, minute=minute, second=second, microsecond=microsecond)
    return today - dt.timedelta(days=n)
