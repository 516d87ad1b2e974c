"""What templates reach as `macros.*` (Airflow's `airflow.macros`).

Besides the helpers below, the modules/classes `datetime`, `timedelta`, `json`, `time`, `uuid`
and `random` are exposed, as Airflow exposes them: `{{ macros.datetime.now() }}`,
`{{ macros.timedelta(days=1) }}`, `{{ macros.json.dumps(x) }}`.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import datetime, timedelta

__all__ = ["datetime", "ds_add", "ds_format", "json", "random", "time", "timedelta", "uuid"]


def ds_add(ds: str, days: int) -> str:
    """`ds` (YYYY-MM-DD) shifted by `days`: `ds_add("2015-01-01", 5)` → "2015-01-06"."""
    if not days:
        return str(ds)
    shifted = datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)
    return shifted.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Re-format a date string: `ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y")` → "01-01-15"."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)
