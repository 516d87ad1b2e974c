"""What templates reach as `macros.*` (Airflow's `airflow.macros`).

Besides the helpers below, the modules/classes `datetime`, `timedelta`, `json`, `time`, `uuid`,
`dateutil` and the function `random` are exposed, as Airflow exposes them:
`{{ macros.datetime.now() }}`, `{{ macros.timedelta(days=1) }}`, `{{ macros.json.dumps(x) }}`,
`{{ macros.dateutil.relativedelta.relativedelta(months=1) }}`.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from random import random
from typing import Any

import dateutil
import dateutil.parser
import dateutil.relativedelta

__all__ = [
    "datetime",
    "datetime_diff_for_humans",
    "dateutil",
    "ds_add",
    "ds_format",
    "json",
    "random",
    "time",
    "timedelta",
    "uuid",
]


def ds_add(ds: str, days: int) -> str:
    """`ds` (YYYY-MM-DD) shifted by `days`: `ds_add("2015-01-01", 5)` → "2015-01-06"."""
    if not days:
        return str(ds)
    shifted = datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)
    return shifted.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: `ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y")` → "01-01-15"."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


def datetime_diff_for_humans(dt: Any, since: Any = None) -> str:
    """How long ago/ahead `dt` is from `since` (default now), in words: "2 hours ago"."""
    import pendulum

    from aerovane.authoring.timezone import coerce_datetime

    return pendulum.instance(coerce_datetime(dt)).diff_for_humans(
        None if since is None else pendulum.instance(coerce_datetime(since))
    )
