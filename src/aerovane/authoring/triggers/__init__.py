"""Triggers: the small async waits a deferred task hands to the triggerer (Airflow's
`airflow.triggers`)."""

from aerovane.authoring.triggers.base import BaseTrigger, TriggerEvent
from aerovane.authoring.triggers.external_task import WorkflowTrigger
from aerovane.authoring.triggers.file import FileTrigger
from aerovane.authoring.triggers.temporal import DateTimeTrigger, TimeDeltaTrigger

__all__ = [
    "BaseTrigger",
    "DateTimeTrigger",
    "FileTrigger",
    "TimeDeltaTrigger",
    "TriggerEvent",
    "WorkflowTrigger",
]
