"""DAG authoring: what users write in DAG files (Airflow 2's authoring API, under new names).

`DAG`, operators, TaskFlow (`@task`, `@dag`), params, templating, timetables and DAG
serialization. Pure Python; nothing here touches the database at import time, and the heavy
libraries (jinja2, croniter, jsonschema) are imported only when first needed.
"""

from __future__ import annotations

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.context import Context, get_current_context
from aerovane.authoring.dag import DAG
from aerovane.authoring.datasets import Dataset, DatasetAlias, DatasetAll, DatasetAny, Metadata
from aerovane.authoring.decorators import dag, setup, task, teardown
from aerovane.authoring.dependencies import chain, cross_downstream
from aerovane.authoring.edge_labels import EdgeModifier, Label
from aerovane.authoring.operators import (
    BaseBranchOperator,
    BashOperator,
    BranchDateTimeOperator,
    BranchDayOfWeekOperator,
    BranchPythonOperator,
    DummyOperator,
    EmailOperator,
    EmptyOperator,
    ExternalPythonOperator,
    LatestOnlyOperator,
    PythonOperator,
    PythonVirtualenvOperator,
    ShortCircuitOperator,
    TriggerDagRunOperator,
)
from aerovane.authoring.params import Param
from aerovane.authoring.secrets_masker import mask_secret
from aerovane.authoring.task_group import TaskGroup, task_group
from aerovane.authoring.trigger_rule import TriggerRule
from aerovane.authoring.variables import Connection, Variable
from aerovane.authoring.weekday import WeekDay
from aerovane.authoring.xcom_arg import XComArg

__all__ = [
    "DAG",
    "BaseBranchOperator",
    "BaseOperator",
    "BashOperator",
    "BranchDateTimeOperator",
    "BranchDayOfWeekOperator",
    "BranchPythonOperator",
    "Connection",
    "Context",
    "Dataset",
    "DatasetAlias",
    "DatasetAll",
    "DatasetAny",
    "DummyOperator",
    "EdgeModifier",
    "EmailOperator",
    "EmptyOperator",
    "ExternalPythonOperator",
    "Label",
    "LatestOnlyOperator",
    "Metadata",
    "Param",
    "PythonOperator",
    "PythonVirtualenvOperator",
    "ShortCircuitOperator",
    "TaskGroup",
    "TriggerDagRunOperator",
    "TriggerRule",
    "Variable",
    "WeekDay",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "mask_secret",
    "setup",
    "task",
    "task_group",
    "teardown",
]
