"""`EmptyOperator`: a task that does nothing, used to group or join branches.

The scheduler marks such tasks successful without starting a process when they have no execute
or success callbacks and no outlets (`is_empty` in the serialized DAG).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aerovane.authoring.baseoperator import BaseOperator

__all__ = ["DummyOperator", "EmptyOperator"]


class EmptyOperator(BaseOperator):
    """Does nothing; exists for its place in the graph."""

    ui_color: ClassVar[str] = "#e8f7e4"
    inherits_from_empty_operator: ClassVar[bool] = True

    def execute(self, context: Mapping[str, Any]) -> None:
        """Nothing to do: the task's effect is its position between other tasks."""


#: Airflow 1's name for EmptyOperator, kept for old DAG files.
DummyOperator = EmptyOperator
