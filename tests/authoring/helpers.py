"""Small stand-ins for the engine's task-instance and dag-run objects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from aerovane.authoring import DAG, BaseOperator
from aerovane.authoring.context import Context, build_context

UTC = dt.UTC
LOGICAL = dt.datetime(2024, 3, 5, 6, 7, 8, tzinfo=UTC)


@dataclass
class FakeTI:
    """Records XCom pushes and skips like the engine's task instance would."""

    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)
    skipped: list[list[str]] = field(default_factory=list)
    try_number: int = 1
    test_mode: bool = False

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids or "", key))

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[("self", key)] = value

    def skip_tasks(self, task_ids: list[str]) -> None:
        self.skipped.append(list(task_ids))

    @property
    def skipped_ids(self) -> set[str]:
        return {task_id for batch in self.skipped for task_id in batch}


@dataclass
class FakeDagRun:
    run_id: str = "manual__2024-03-05T06:07:08+00:00"
    logical_date: dt.datetime = LOGICAL
    data_interval_start: dt.datetime | None = LOGICAL - dt.timedelta(days=1)
    data_interval_end: dt.datetime | None = LOGICAL
    conf: dict[str, Any] = field(default_factory=dict)
    run_type: str = "manual"


def make_context(
    dag: DAG,
    task: BaseOperator,
    ti: FakeTI | None = None,
    dag_run: FakeDagRun | None = None,
) -> Context:
    return build_context(dag=dag, task=task, ti=ti or FakeTI(), dag_run=dag_run or FakeDagRun())


def run_task(
    task: BaseOperator, ti: FakeTI | None = None, dag_run: FakeDagRun | None = None
) -> Any:
    """Render and execute `task` as the runtime would, returning its result."""
    assert task.dag is not None
    context = make_context(task.dag, task, ti, dag_run)
    task.render_template_fields(context)
    return task.execute(context)
