"""Built-in operators: Bash, Python (plus branching and short-circuit) and Empty."""

from __future__ import annotations

from aerovane.authoring.operators.bash import BashOperator
from aerovane.authoring.operators.empty import DummyOperator, EmptyOperator
from aerovane.authoring.operators.python import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from aerovane.authoring.operators.trigger_dagrun import TriggerDagRunOperator

__all__ = [
    "BashOperator",
    "BranchPythonOperator",
    "DummyOperator",
    "EmptyOperator",
    "PythonOperator",
    "ShortCircuitOperator",
    "TriggerDagRunOperator",
]
