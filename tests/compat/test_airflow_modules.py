"""The `airflow` modules DAG files import besides operators: models, exceptions, configuration,
helpers, timetables (each case in a fresh interpreter, as the shim is process-wide)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.test_airflow_shim import run

MODULES_DAG = """
import datetime
from airflow import DAG, XComArg
from airflow.configuration import conf
from airflow.exceptions import (
    AirflowConfigException, AirflowException, AirflowFailException, AirflowSensorTimeout,
    AirflowSkipException, AirflowTaskTimeout, DuplicateTaskIdFound,
)
from airflow.models import (
    BaseOperator, DagRun, Param, ParamsDict, TaskInstance, Variable, XCom,
)
from airflow.models.baseoperator import chain, chain_linear, cross_downstream
from airflow.models.dagrun import DagRun as DagRun2
from airflow.models.param import ParamsDict as ParamsDict2
from airflow.models.taskinstance import TaskInstance as TaskInstance2
from airflow.models.xcom import XCom as XCom2
from airflow.models.xcom_arg import XComArg as XComArg2
from airflow.operators.empty import EmptyOperator
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable
from airflow.timetables.datasets import DatasetOrTimeSchedule
from airflow.timetables.events import EventsTimetable
from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable
from airflow.utils.helpers import chain as chain2, cross_downstream as cd2, merge_dicts
from airflow.utils.trigger_rule import TriggerRule
from airflow.datasets import Dataset, DatasetAlias
from airflow.datasets.metadata import Metadata
from airflow.io.path import ObjectStoragePath
from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

assert ObjectStoragePath("file:///tmp/x") / "y" == ObjectStoragePath("/tmp/x/y")
assert Metadata(Dataset("a"), {}, alias=DatasetAlias("b")).alias_name == "b"

assert XComArg is XComArg2 and DagRun is DagRun2 and TaskInstance is TaskInstance2
assert XCom is XCom2 and ParamsDict is ParamsDict2 and chain is chain2
assert issubclass(AirflowSensorTimeout, AirflowException)
assert merge_dicts({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}
assert conf.getboolean("core", "load_examples") in (True, False)

with DAG(
    "modules",
    start_date=datetime.datetime(2024, 1, 1),
    schedule=DatasetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 1 * * 3", timezone="UTC"), datasets=[Dataset("x")]
    ),
    catchup=False,
) as dag:
    a, b, c, d = (EmptyOperator(task_id=n) for n in "abcd")
    chain_linear(a, [b, c], d)
    try:
        EmptyOperator(task_id="a")
    except DuplicateTaskIdFound as exc:
        print("duplicate:", exc)

with DAG("events", schedule=EventsTimetable(event_dates=[datetime.datetime(2024, 3, 1)])) as e:
    EmptyOperator(task_id="only")
"""


def test_modules_dag_imports_and_schedules(tmp_path: Path) -> None:
    (tmp_path / "modules_dag.py").write_text(MODULES_DAG)
    result = run(
        f"""
        from aerovane.dag_processing.importer import import_dag_file
        dags, _ = import_dag_file({str(tmp_path / "modules_dag.py")!r})
        dag = dags["modules"]
        print(type(dag.timetable).__name__, dag.timetable.summary)
        a, d = dag.get_task("a"), dag.get_task("d")
        print(sorted(a.downstream_task_ids), sorted(d.upstream_task_ids))
        print(dags["events"].timetable.summary)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("duplicate: Task id 'a' has already been added")
    assert lines[1] == "DatasetOrTimeSchedule Dataset or 0 1 * * 3"
    assert lines[2] == "['b', 'c'] ['b', 'c']"
    assert lines[3] == "1 events"


def test_providers_and_kubernetes_still_fail_with_one_clear_error(tmp_path: Path) -> None:
    result = run(
        """
        from aerovane.compat import airflow_shim
        airflow_shim.install()
        for name in ("airflow.kubernetes", "airflow.providers.cncf.kubernetes"):
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                print(exc.name, "does not provide" in str(exc))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["airflow.kubernetes True", "airflow.providers True"]


def test_no_module_is_mapped_twice() -> None:
    """`"airflow.x"` and `"airflow.x."` are one module: the later line would silently win."""
    import re

    from aerovane.compat import airflow_shim

    source = Path(airflow_shim.__file__).read_text()
    names = [n.rstrip(".") for n in re.findall(r'^    "(airflow[^"]*)":', source, re.M)]
    assert len(names) > 50
    assert sorted({n for n in names if names.count(n) > 1}) == []
