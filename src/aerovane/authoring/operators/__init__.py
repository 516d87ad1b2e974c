"""Built-in operators: Bash, Python (plus branching and short-circuit), Empty, branching on
time (weekday, datetime, latest only) and triggering other DAGs."""

from __future__ import annotations

from aerovane.authoring.operators.bash import BashOperator
from aerovane.authoring.operators.branch import BaseBranchOperator
from aerovane.authoring.operators.datetime_branch import BranchDateTimeOperator
from aerovane.authoring.operators.email import EmailOperator
from aerovane.authoring.operators.empty import DummyOperator, EmptyOperator
from aerovane.authoring.operators.latest_only import LatestOnlyOperator
from aerovane.authoring.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from aerovane.authoring.operators.python_env import (
    ExternalPythonOperator,
    PythonVirtualenvOperator,
)
from aerovane.authoring.operators.trigger_dagrun import TriggerDagRunOperator
from aerovane.authoring.operators.weekday import BranchDayOfWeekOperator

__all__ = [
    "BaseBranchOperator",
    "BashOperator",
    "BranchDateTimeOperator",
    "BranchDayOfWeekOperator",
    "BranchPythonOperator",
    "DummyOperator",
    "EmailOperator",
    "EmptyOperator",
    "ExternalPythonOperator",
    "LatestOnlyOperator",
    "PythonOperator",
    "PythonVirtualenvOperator",
    "ShortCircuitOperator",
    "TriggerDagRunOperator",
]
