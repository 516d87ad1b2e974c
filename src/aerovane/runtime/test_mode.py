"""`aerovane tasks test`: run one task in this process, recording nothing in the database.

XComs live in memory for the duration of the command; skipping other tasks only logs.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from aerovane.authoring.models import DagRun, TaskInstance

log = logging.getLogger("aerovane.task")


@DagRun.register
@dataclass
class TestDagRun:
    dag_id: str
    run_id: str
    logical_date: dt.datetime
    data_interval_start: dt.datetime
    data_interval_end: dt.datetime
    conf: dict[str, Any] = field(default_factory=dict)
    run_type: str = "manual"
    external_trigger: bool = True
    start_date: dt.datetime | None = None

    @property
    def execution_date(self) -> dt.datetime:
        return self.logical_date


class TestTaskInstance(TaskInstance):
    def __init__(self, task: Any, dag_run: TestDagRun) -> None:
        self.dag_id = dag_run.dag_id
        self.task_id = task.task_id
        self.run_id = dag_run.run_id
        self.map_index = -1
        self.try_number = 1
        self.max_tries = task.retries
        self.state = "running"
        self.task = task
        self.logical_date = self.execution_date = dag_run.logical_date
        self.start_date = dt.datetime.now(dt.UTC)
        self.hostname = "localhost"
        self._xcom: dict[tuple[str, str], Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self._xcom[(self.task_id, key)] = value

    def xcom_pull(
        self,
        task_ids: Any = None,
        dag_id: Any = None,
        key: str = "return_value",
        include_prior_dates: bool = False,
        map_indexes: Any = None,
        default: Any = None,
    ) -> Any:
        if isinstance(task_ids, str):
            return self._xcom.get((task_ids, key), default)
        if task_ids is None:
            return next((v for (t, k), v in self._xcom.items() if k == key), default)
        return [self._xcom.get((t, key), default) for t in task_ids]

    def skip_tasks(self, task_ids: Any) -> None:
        log.info("(test mode) would skip: %s", ", ".join(task_ids))


def run_task_in_process(
    dag: Any,
    task_id: str,
    logical_date: dt.datetime,
    conf: dict[str, Any] | None,
    *,
    task_params: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> tuple[str, Any]:
    """Render and execute one task here; return (state, result).

    `task_params` are validated with the DAG's params and override them (Airflow's `-t`);
    `dry_run` only renders the template fields and returns them (Airflow's `-n`)."""
    from aerovane.authoring.context import build_context
    from aerovane.authoring.exceptions import AerovaneRescheduleException, AerovaneSkipException
    from aerovane.authoring.templating import build_jinja_env

    task = dag.get_task(task_id)
    interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
    dag_run = TestDagRun(
        dag.dag_id,
        f"test__{logical_date.isoformat()}",
        logical_date,
        interval.start,
        interval.end,
        conf or {},
    )
    ti = TestTaskInstance(task, dag_run)
    params = dag.params.resolve({**(conf or {}), **(task_params or {})})
    context = build_context(dag=dag, task=task, ti=ti, dag_run=dag_run, params=params)
    task.render_template_fields(context, build_jinja_env(dag))
    if dry_run:
        return "dry run", {name: getattr(task, name, None) for name in task.template_fields}
    try:
        result = task.execute(context)
    except AerovaneSkipException as exc:
        log.info("Task skipped: %s", exc)
        return "skipped", None
    except AerovaneRescheduleException as exc:
        log.info("(test mode) a sensor would poke again at %s", exc.reschedule_date.isoformat())
        return "up_for_reschedule", None
    return "success", result
