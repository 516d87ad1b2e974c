"""State names of DAG runs and task instances, as Airflow 2 spells them."""

from __future__ import annotations

from enum import StrEnum


class DagRunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class DagRunType(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    BACKFILL = "backfill"
    DATASET_TRIGGERED = "dataset_triggered"


#: `dag_run.triggered_by` of a run that `dag.test()` / `aerovane dags test` drives in its own
#: process; schedulers leave such runs and their task instances alone.
TEST_RUN_TRIGGER = "test"


class TaskState(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"
    RESTARTING = "restarting"
    DEFERRED = "deferred"


FINISHED_TI_STATES = frozenset(
    {
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.SKIPPED,
        TaskState.UPSTREAM_FAILED,
        TaskState.REMOVED,
    }
)
FINISHED_TI_VALUES = frozenset(s.value for s in FINISHED_TI_STATES)
ACTIVE_TI_VALUES = frozenset({TaskState.QUEUED.value, TaskState.RUNNING.value})
FINISHED_RUN_VALUES = frozenset({DagRunState.SUCCESS.value, DagRunState.FAILED.value})
