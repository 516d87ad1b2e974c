"""Airflow 2 modules end to end: DAG files written against `airflow.*` (datasets with aliases,
outlet/inlet events and Metadata, DatasetOrTimeSchedule, XCom/TaskInstance names) and a plugins
folder (macros, a timetable, a listener), run by the real scheduler and task processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.engine.conftest import Engine, wait_for

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

PLUGIN_FILES = {
    "team_plugin.py": """
        import json, os
        from pathlib import Path
        from airflow.listeners import hookimpl
        from airflow.plugins_manager import AirflowPlugin
        from airflow.timetables.base import DagRunInfo, DataInterval, Timetable

        def plus_one(value):
            return int(value) + 1

        class EveryTwoDays(Timetable):
            def __init__(self, offset_hours=0):
                self.offset_hours = offset_hours

            def infer_manual_data_interval(self, *, run_after):
                return DataInterval.exact(run_after)

            def next_dagrun_info(self, *, last_automated_data_interval, restriction):
                import datetime
                if last_automated_data_interval is None:
                    start = restriction.earliest
                else:
                    start = last_automated_data_interval.end + datetime.timedelta(days=2)
                return DagRunInfo.exact(start + datetime.timedelta(hours=self.offset_hours))

            def serialize(self):
                return {"offset_hours": self.offset_hours}

            @classmethod
            def deserialize(cls, data):
                return cls(data["offset_hours"])

        class Recorder:
            def _write(self, what, ti, **more):
                path = Path(os.environ["AEROVANE_HOME"]) / "listener.jsonl"
                with path.open("a") as out:
                    out.write(json.dumps({"hook": what, "task": f"{ti.dag_id}.{ti.task_id}",
                                          "state": ti.state, **more}) + "\\n")

            @hookimpl
            def on_task_instance_running(self, previous_state, task_instance):
                self._write("running", task_instance, previous=str(previous_state))

            @hookimpl
            def on_task_instance_success(self, previous_state, task_instance, session):
                self._write("success", task_instance)

            @hookimpl
            def on_task_instance_failed(self, task_instance, error):
                self._write("failed", task_instance, error=repr(error))

        from airflow.task.priority_strategy import PriorityWeightStrategy

        class Scaled(PriorityWeightStrategy):
            def __init__(self, factor=1):
                self.factor = factor

            def get_weight(self, ti):
                return ti.task.priority_weight * self.factor + ti.try_number

            def serialize(self):
                return {"factor": self.factor}

        class TeamPlugin(AirflowPlugin):
            name = "team"
            macros = [plus_one]
            timetables = [EveryTwoDays]
            listeners = [Recorder()]
            priority_weight_strategies = [Scaled]
    """,
}

DAG_FILES = {
    "datasets_airflow.py": f"""
        import datetime
        from airflow import DAG
        from airflow.datasets import Dataset, DatasetAlias
        from airflow.datasets.metadata import Metadata
        from airflow.decorators import task
        from airflow.timetables.datasets import DatasetOrTimeSchedule
        from airflow.timetables.trigger import CronTriggerTimetable

        raw = Dataset("s3://lake/raw")
        alias = DatasetAlias("daily-partitions")

        with DAG("make_data", schedule=None, start_date={START}):
            @task(outlets=[raw, alias])
            def write(*, outlet_events):
                outlet_events[raw].extra = {{"rows": 3}}
                outlet_events[alias].add(Dataset("s3://lake/part=1"), extra={{"part": 1}})

            @task(outlets=[Dataset("s3://lake/summary"), alias])
            def summarize():
                yield Metadata(Dataset("s3://lake/summary"), {{"total": 7}})
                yield Metadata(Dataset("s3://lake/part=2"), {{"part": 2}}, alias=alias)
                return "done"

            write() >> summarize()

        with DAG("on_alias", schedule=[alias], start_date={START}):
            @task(inlets=[raw, alias])
            def read(*, inlet_events, triggering_dataset_events):
                return {{
                    "triggered_by": {{
                        uri: [e.source_task_id for e in events]
                        for uri, events in triggering_dataset_events.items()
                    }},
                    "raw": [e.extra for e in inlet_events[raw]],
                    "via_alias": sorted(e.uri for e in inlet_events[alias]),
                    "aliases": sorted({{a for e in inlet_events[alias] for a in e.source_aliases}}),
                }}
            read()

        with DAG(
            "raw_or_weekly",
            schedule=DatasetOrTimeSchedule(
                timetable=CronTriggerTimetable("0 0 * * 0", timezone="UTC"),
                datasets=raw | Dataset("s3://lake/never"),
            ),
            start_date={START},
            catchup=False,
        ):
            @task
            def noop():
                return 1
            noop()
    """,
    "classic_extra.py": f"""
        import datetime
        from airflow.datasets import Dataset
        from airflow.models.dag import DAG
        from airflow.operators.bash import BashOperator

        ds = Dataset("s3://output/classic.txt")

        def before(context):
            context["ti"].xcom_push("seen_before", context["task"].task_id)

        def after(context, result):
            context["outlet_events"][ds].extra = {{"hi": "bye", "result": result}}

        with DAG("classic_extra", schedule=None, start_date={START}):
            BashOperator(task_id="write", outlets=[ds], bash_command="echo done",
                         pre_execute=before, post_execute=after)
    """,
    "plugins_airflow.py": f"""
        import datetime
        from airflow import DAG
        from airflow.decorators import task
        from airflow.models import TaskInstance, XCom
        from airflow.operators.bash import BashOperator
        from team_plugin import EveryTwoDays, Scaled

        with DAG("uses_plugin", schedule=EveryTwoDays(offset_hours=5),
                 start_date=datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)):
            BashOperator(
                task_id="macro", bash_command="echo plugin={{{{ macros.team.plus_one(41) }}}}",
                priority_weight=7, weight_rule=Scaled(factor=3),
            )
            BashOperator(task_id="by_path", bash_command="true", priority_weight=2,
                         weight_rule="team_plugin.Scaled")

        with DAG("models_names", schedule=None, start_date={START}):
            @task
            def push():
                return {{"v": 5}}

            @task
            def pull(ti: TaskInstance = None):
                assert isinstance(ti, TaskInstance)
                return XCom.get_one(key="return_value", task_id="push", run_id=ti.run_id)

            @task
            def boom():
                raise ValueError("listener sees this")

            push() >> pull() >> boom()
    """,
}


def _runs(dag_id: str) -> list[Any]:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return list(session.scalars(select(models.DagRun).where(models.DagRun.dag_id == dag_id)))


def _xcom(dag_id: str, run_id: str, task_id: str) -> Any:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        value = session.scalar(
            select(models.XCom.value).where(
                models.XCom.dag_id == dag_id,
                models.XCom.run_id == run_id,
                models.XCom.task_id == task_id,
                models.XCom.key == "return_value",
            )
        )
    return None if value is None else json.loads(value)


def test_outlet_events_aliases_and_metadata_drive_dataset_schedules(engine: Engine) -> None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    for dag_id in ("make_data", "on_alias", "raw_or_weekly"):
        engine.wait_dag(dag_id)
    run_id = engine.trigger("make_data")
    assert engine.wait_run("make_data", run_id) == "success"

    with create_session(readonly=True) as session:
        rows = session.execute(
            select(
                models.DatasetModel.uri,
                models.DatasetEvent.extra,
                models.DatasetEvent.source_task_id,
            )
            .join(models.DatasetModel, models.DatasetModel.id == models.DatasetEvent.dataset_id)
            .order_by(models.DatasetModel.uri)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("s3://lake/part=1", {"part": 1}, "write"),
        ("s3://lake/part=2", {"part": 2}, "summarize"),
        ("s3://lake/raw", {"rows": 3}, "write"),
        ("s3://lake/summary", {"total": 7}, "summarize"),
    ]

    # Each event through the alias queues the DAG scheduled on it.
    alias_run = wait_for(lambda: _runs("on_alias"), 120, "a run triggered through the alias")[0]
    assert alias_run.run_type == "dataset_triggered"
    assert engine.wait_run("on_alias", alias_run.run_id) == "success"
    first = _xcom("on_alias", alias_run.run_id, "read")["triggered_by"]
    assert first and set(first) <= {"s3://lake/part=1", "s3://lake/part=2"}
    # A run started after the producer finished sees every event in its inlet_events.
    manual = engine.trigger("on_alias")
    assert engine.wait_run("on_alias", manual) == "success"
    assert _xcom("on_alias", manual, "read") == {
        "triggered_by": {},  # a manual run was not triggered by datasets
        "raw": [{"rows": 3}],
        "via_alias": ["s3://lake/part=1", "s3://lake/part=2"],
        "aliases": ["daily-partitions"],
    }

    def dataset_run() -> Any:
        return next((r for r in _runs("raw_or_weekly") if r.run_type == "dataset_triggered"), None)

    either = wait_for(dataset_run, 120, "a run of the OR condition")
    assert engine.wait_run("raw_or_weekly", either.run_id) == "success"
    # The time part schedules too: catchup=False gives a run for the latest Sunday tick.
    scheduled = [r for r in _runs("raw_or_weekly") if r.run_type == "scheduled"]
    assert scheduled and all(r.logical_date.weekday() == 6 for r in scheduled)


def test_plugin_macros_timetable_and_listeners(engine: Engine) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    engine.wait_dag("uses_plugin")
    with create_session(readonly=True) as session:
        dag = session.get(models.DagModel, "uses_plugin")
        assert dag is not None
        # The scheduler rebuilt the plugin's timetable from its class path to plan the runs.
        assert dag.next_dagrun is not None
        assert (dag.next_dagrun.year, dag.next_dagrun.hour) == (2100, 5)
    run_id = engine.trigger("uses_plugin")
    assert engine.wait_run("uses_plugin", run_id) == "success"
    assert "plugin=42" in engine.log("uses_plugin", run_id, "macro")
    tis = engine.tis("uses_plugin", run_id)
    # The plugin's strategy weighed each new task instance (try_number 0 at creation).
    assert (tis["macro"].priority_weight, tis["by_path"].priority_weight) == (21, 2)

    engine.wait_dag("models_names")
    run_id = engine.trigger("models_names")
    assert engine.wait_run("models_names", run_id) == "failed"
    assert _xcom("models_names", run_id, "pull") == {"v": 5}

    record = Path(engine.home) / "listener.jsonl"
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    mine = [line for line in lines if line["task"].startswith("models_names.")]
    assert [(line["hook"], line["task"], line["state"]) for line in mine] == [
        ("running", "models_names.push", "running"),
        ("success", "models_names.push", "success"),
        ("running", "models_names.pull", "running"),
        ("success", "models_names.pull", "success"),
        ("running", "models_names.boom", "running"),
        ("failed", "models_names.boom", "failed"),
    ]
    assert mine[0]["previous"] == "queued"
    assert "listener sees this" in mine[-1]["error"]


def test_classic_operator_sets_event_extra_in_post_execute(engine: Engine) -> None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    engine.wait_dag("classic_extra")
    run_id = engine.trigger("classic_extra")
    assert engine.wait_run("classic_extra", run_id) == "success"
    with create_session(readonly=True) as session:
        extra = session.scalar(
            select(models.DatasetEvent.extra)
            .join(models.DatasetModel, models.DatasetModel.id == models.DatasetEvent.dataset_id)
            .where(models.DatasetModel.uri == "s3://output/classic.txt")
        )
        before = session.scalar(
            select(models.XCom.value).where(
                models.XCom.dag_id == "classic_extra", models.XCom.key == "seen_before"
            )
        )
    assert extra == {"hi": "bye", "result": "done"}
    assert json.loads(before) == "write"
