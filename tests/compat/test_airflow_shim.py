"""Airflow 2 DAG files load unchanged without Airflow, and a real Airflow is never shadowed.

Each case runs in a fresh interpreter: the shim is an import hook, process-wide by nature.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

COMPOSER_SAMPLE = """
import datetime

import airflow
from airflow.operators import bash_operator

default_args = {
    "owner": "Composer Example",
    "depends_on_past": False,
    "email": [""],
    "email_on_failure": False,
    "email_on_retry": False,
    "retries": 1,
    "retry_delay": datetime.timedelta(minutes=5),
    "start_date": airflow.utils.dates.days_ago(1),
}

with airflow.DAG(
    "composer_sample_trigger_response_dag",
    default_args=default_args,
    schedule_interval=None,
) as dag:
    print_gcs_info = bash_operator.BashOperator(
        task_id="print_gcs_info", bash_command="echo {{ dag_run.conf }}"
    )
"""


EVERYTHING = """
import datetime
from airflow import DAG
from airflow.decorators import dag, task
from airflow.models import Variable, DAG as ModelsDAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator, BranchPythonOperator, ShortCircuitOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.dummy import DummyOperator
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.utils.trigger_rule import TriggerRule
from airflow.utils.dates import days_ago
from airflow.exceptions import AirflowSkipException
assert DAG is ModelsDAG

@dag(schedule_interval="@daily", start_date=datetime.datetime(2024, 1, 1), catchup=False)
def taskflow_example():
    @task
    def one():
        return 1
    one() >> EmptyOperator(task_id="end", trigger_rule=TriggerRule.ALL_DONE)

taskflow_example()
with DAG("classic", start_date=days_ago(2), schedule_interval=None) as d:
    BashOperator(task_id="b", bash_command="echo hi") >> DummyOperator(task_id="d")
    TriggerDagRunOperator(task_id="t", trigger_dag_id="taskflow_example")
"""


def run(code: str, tmp_path: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess:
    prelude = f"import sys; sys.path.insert(0, {str(extra_path)!r})\n" if extra_path else ""
    return subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"AEROVANE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )


def test_composer_sample_and_core_imports_load(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(COMPOSER_SAMPLE)
    (tmp_path / "everything.py").write_text(EVERYTHING)
    result = run(
        f"""
        from aerovane.dag_processing.importer import import_dag_file
        dags, _ = import_dag_file({str(tmp_path / "sample.py")!r})
        dag = dags["composer_sample_trigger_response_dag"]
        task = dag.get_task("print_gcs_info")
        print(type(task).__name__, task.retries, task.owner, dag.timetable.summary)
        dags, _ = import_dag_file({str(tmp_path / "everything.py")!r})
        print(sorted(dags))
        import airflow
        print(airflow.__version__)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "BashOperator 1 Composer Example None"
    assert lines[1] == "['classic', 'taskflow_example']"
    assert lines[2] == "2.10.5"


def test_missing_piece_is_named(tmp_path: Path) -> None:
    (tmp_path / "gcs.py").write_text(
        "from airflow import DAG\n"
        "from airflow.providers.google.cloud.operators.gcs import GCSCreateBucketOperator\n"
    )
    result = run(
        f"""
        from aerovane.dag_processing.importer import import_dag_file
        try:
            import_dag_file({str(tmp_path / "gcs.py")!r})
        except ModuleNotFoundError as exc:
            print(exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "'airflow.providers'" in result.stdout
    assert "does not provide airflow.providers" in result.stdout


def test_a_real_airflow_is_never_shadowed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "airflow").mkdir(parents=True)
    (site / "airflow" / "__init__.py").write_text("REAL = True\n")
    result = run(
        """
        from aerovane.compat import airflow_shim
        print(airflow_shim.install())
        import airflow
        print(getattr(airflow, "REAL", False))
        """,
        tmp_path,
        extra_path=site,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


SENSORS = """
import datetime
from airflow import DAG
from airflow.decorators import task
from airflow.exceptions import AirflowSensorTimeout, AirflowRescheduleException
from airflow.sensors.base import BaseSensorOperator, PokeReturnValue, poke_mode_only
from airflow.sensors.bash import BashSensor
from airflow.sensors.python import PythonSensor
from airflow.sensors.filesystem import FileSensor
from airflow.sensors.time_sensor import TimeSensor
from airflow.sensors.time_delta import TimeDeltaSensor
from airflow.sensors.date_time import DateTimeSensor
from airflow.sensors.weekday import DayOfWeekSensor
from airflow.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from airflow.utils.weekday import WeekDay

with DAG("sensors", start_date=datetime.datetime(2024, 1, 1), schedule=None):
    BashSensor(task_id="bash", bash_command="true")
    PythonSensor(task_id="py", python_callable=lambda: True)
    FileSensor(task_id="file", filepath="/tmp/x", mode="reschedule")
    TimeSensor(task_id="time", target_time=datetime.time(1))
    TimeDeltaSensor(task_id="delta", delta=datetime.timedelta(1))
    DateTimeSensor(task_id="dt", target_time="{{ ds }}")
    DayOfWeekSensor(task_id="dow", week_day=WeekDay.MONDAY)
    ExternalTaskSensor(task_id="ext", external_dag_id="other", external_task_id="t")
    ExternalTaskMarker(task_id="mark", external_dag_id="other", external_task_id="t")

    @task.sensor(poke_interval=1)
    def deco():
        return PokeReturnValue(True)

    deco()
"""


def test_sensor_paths_load(tmp_path: Path) -> None:
    (tmp_path / "sensors.py").write_text(SENSORS)
    result = run(
        f"""
        from aerovane.dag_processing.importer import import_dag_file
        dags, _ = import_dag_file({str(tmp_path / "sensors.py")!r})
        dag = dags["sensors"]
        print(sorted(type(t).__name__ for t in dag.tasks))
        from airflow.sensors.base import BaseSensorOperator
        print(all(isinstance(t, BaseSensorOperator) for t in dag.tasks if t.task_id != "mark"))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(
        sorted(
            [
                "BashSensor", "PythonSensor", "FileSensor", "TimeSensor", "TimeDeltaSensor",
                "DateTimeSensor", "DayOfWeekSensor", "ExternalTaskSensor", "ExternalTaskMarker",
                "_SensorDecoratedOperator",
            ]
        )
    )  # fmt: skip
    assert lines[1] == "True"
