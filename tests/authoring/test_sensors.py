"""Sensors in one process: the poke loop, soft/silent/never fail, timeouts, backoff, reschedule
requests, and each core sensor's condition. The engine side (reschedule through the scheduler,
ExternalTaskSensor on real runs) is in tests/engine/test_sensors.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from aerovane.authoring import DAG, task
from aerovane.authoring.exceptions import (
    AerovaneException,
    AerovaneFailException,
    AerovaneRescheduleException,
    AerovaneSensorTimeout,
    AerovaneSkipException,
)
from aerovane.authoring.sensors import (
    BaseSensorOperator,
    BashSensor,
    DateTimeSensor,
    DayOfWeekSensor,
    ExternalTaskMarker,
    ExternalTaskSensor,
    FileSensor,
    PokeReturnValue,
    PythonSensor,
    TimeDeltaSensor,
    TimeSensor,
    WeekDay,
    poke_mode_only,
)
from aerovane.authoring.serialization import SerializedDAG, serialize_dag
from tests.authoring.helpers import LOGICAL, FakeTI, run_task

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class Scripted(BaseSensorOperator):
    """Answers each poke from a list (an exception in it is raised)."""

    def __init__(self, *, answers: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers = list(answers)
        self.pokes = 0

    def poke(self, context: Any) -> Any:
        self.pokes += 1
        answer = self.answers.pop(0) if self.answers else False
        if isinstance(answer, BaseException):
            raise answer
        return answer


class RecordedStarts:
    """The runtime's metadata client as a sensor sees it: a recorded first-poke start."""

    def __init__(self, start: dt.datetime | None) -> None:
        self.start = start
        self.asked: list[dict[str, Any]] = []

    def first_reschedule_start(self, **kwargs: Any) -> dt.datetime | None:
        self.asked.append(kwargs)
        return self.start


class SensorTI(FakeTI):
    def __init__(self, metadata: Any = None, max_tries: int = 0) -> None:
        super().__init__()
        self.metadata = metadata
        self.dag_id, self.task_id, self.run_id, self.map_index = "d", "t", "r", -1
        self.max_tries = max_tries


def _sensor(**kwargs: Any) -> Scripted:
    with DAG("sensing", schedule=None, start_date=START):
        return Scripted(task_id="s", **kwargs)


def test_poke_return_value_is_truthy_when_done() -> None:
    assert PokeReturnValue(True) and not PokeReturnValue(False, xcom_value=1)


def test_pokes_until_true_and_returns_the_xcom_value() -> None:
    sensor = _sensor(answers=[False, 0, PokeReturnValue(True, {"k": 1})], poke_interval=0)
    assert run_task(sensor) == {"k": 1}
    assert sensor.pokes == 3
    assert run_task(_sensor(answers=[True], poke_interval=0)) is None


def test_timeout_fails_or_skips_with_soft_fail() -> None:
    with pytest.raises(AerovaneSensorTimeout, match="Sensor has timed out"):
        run_task(_sensor(answers=[], poke_interval=0, timeout=0))
    with pytest.raises(AerovaneSkipException, match="Sensor has timed out"):
        run_task(_sensor(answers=[], poke_interval=0, timeout=0, soft_fail=True))


def test_poke_errors_fail_skip_or_are_silenced() -> None:
    with pytest.raises(ZeroDivisionError):
        run_task(_sensor(answers=[ZeroDivisionError()], poke_interval=0))
    silent = _sensor(answers=[ZeroDivisionError(), True], poke_interval=0, silent_fail=True)
    assert run_task(silent) is None and silent.pokes == 2
    with pytest.raises(AerovaneSkipException, match="never_fail"):
        run_task(_sensor(answers=[ZeroDivisionError()], poke_interval=0, never_fail=True))
    with pytest.raises(AerovaneSkipException, match="soft_fail"):
        run_task(_sensor(answers=[AerovaneFailException("x")], soft_fail=True))
    with pytest.raises(AerovaneSkipException, match="asked"):
        run_task(_sensor(answers=[AerovaneSkipException("asked")], silent_fail=True))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(AerovaneException, match="mode must be one of"):
        _sensor(answers=[], mode="sometimes")
    with pytest.raises(AerovaneException, match="poke_interval"):
        _sensor(answers=[], poke_interval=-1)
    with pytest.raises(AerovaneException, match="timeout"):
        _sensor(answers=[], timeout="soon")
    with pytest.raises(ValueError, match="mutually exclusive"):
        _sensor(answers=[], soft_fail=True, never_fail=True)


def test_default_timeout_comes_from_the_sensors_section(monkeypatch: pytest.MonkeyPatch) -> None:
    from aerovane.config import reload_settings

    assert _sensor(answers=[]).timeout == 7 * 24 * 3600
    monkeypatch.setenv("AIRFLOW__SENSORS__DEFAULT_TIMEOUT", "90")
    reload_settings()
    assert _sensor(answers=[]).timeout == 90
    assert _sensor(answers=[], timeout=dt.timedelta(minutes=1)).timeout == 60


def test_reschedule_mode_asks_to_come_back_after_poke_interval() -> None:
    sensor = _sensor(answers=[False], mode="reschedule", poke_interval=30, retries=2)
    metadata = RecordedStarts(None)
    before = dt.datetime.now(dt.UTC)
    with pytest.raises(AerovaneRescheduleException) as raised:
        run_task(sensor, ti=SensorTI(metadata, max_tries=2))
    assert before + dt.timedelta(seconds=30) <= raised.value.reschedule_date
    # The first try's number is max_tries - retries + 1, as in Airflow.
    assert metadata.asked == [
        {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1, "from_try": 1}
    ]


def test_reschedule_timeout_counts_from_the_first_recorded_poke() -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    sensor = _sensor(answers=[False], mode="reschedule", poke_interval=1, timeout=3600)
    with pytest.raises(AerovaneSensorTimeout):
        run_task(sensor, ti=SensorTI(RecordedStarts(long_ago)))
    soft = _sensor(
        answers=[False], mode="reschedule", poke_interval=1, timeout=3600, soft_fail=True
    )
    with pytest.raises(AerovaneSkipException):
        run_task(soft, ti=SensorTI(RecordedStarts(long_ago)))


def test_exponential_backoff_grows_and_is_capped_by_max_wait() -> None:
    sensor = _sensor(answers=[], poke_interval=5, exponential_backoff=True, timeout=10_000)
    intervals = [sensor._next_poke_interval(0.0, lambda: 0.0, n) for n in range(1, 8)]
    for n, interval in enumerate(intervals, start=1):
        low = max(int(5 * 2 ** (n - 2)), 1)
        assert low <= interval < 2 * low
    assert intervals[-1] > intervals[0]
    capped = _sensor(
        answers=[], poke_interval=5, exponential_backoff=True, max_wait=12, timeout=10_000
    )
    assert max(capped._next_poke_interval(0.0, lambda: 0.0, n) for n in range(1, 8)) == 12
    plain = _sensor(answers=[], poke_interval=5)
    assert plain._next_poke_interval(0.0, lambda: 0.0, 6) == 5


def test_poke_mode_only_forbids_reschedule() -> None:
    @poke_mode_only
    class OnlyPoke(Scripted):
        pass

    with DAG("only_poke", schedule=None, start_date=START):
        sensor = OnlyPoke(task_id="s", answers=[])
    assert sensor.mode == "poke"
    with pytest.raises(ValueError, match="Only 'poke'"):
        sensor.mode = "reschedule"
    with pytest.raises(ValueError):
        poke_mode_only(dict)  # type: ignore[arg-type]


def test_bash_sensor_exit_codes() -> None:
    with DAG("bash_sensing", schedule=None, start_date=START):
        ok = BashSensor(task_id="ok", bash_command="exit 0")
        later = BashSensor(task_id="later", bash_command="exit 1")
        retry = BashSensor(task_id="retry", bash_command="exit 7", retry_exit_code=7)
        broken = BashSensor(task_id="broken", bash_command="exit 2", retry_exit_code=7)
    context: dict[str, Any] = {}
    assert ok.poke(context) is True
    assert later.poke(context) is False
    assert retry.poke(context) is False
    with pytest.raises(AerovaneFailException, match="return code 2"):
        broken.poke(context)


def test_python_sensor_gets_op_kwargs_context_and_templates_dict() -> None:
    seen: dict[str, Any] = {}

    def check(threshold: int, ds: str, templates_dict: dict[str, Any]) -> Any:
        seen.update(threshold=threshold, ds=ds, templates_dict=templates_dict)
        return PokeReturnValue(True, xcom_value=threshold * 2)

    with DAG("py_sensing", schedule=None, start_date=START):
        sensor = PythonSensor(
            task_id="s",
            python_callable=check,
            op_kwargs={"threshold": 21},
            templates_dict={"day": "{{ ds }}"},
            poke_interval=0,
        )
    assert run_task(sensor) == 42
    assert seen == {"threshold": 21, "ds": "2024-03-05", "templates_dict": {"day": "2024-03-05"}}


def test_task_sensor_decorator_builds_a_python_sensor() -> None:
    with DAG("deco_sensing", schedule=None, start_date=START) as dag:

        @task.sensor(poke_interval=3, timeout=9, mode="reschedule")
        def ready(limit: int) -> PokeReturnValue:
            return PokeReturnValue(limit > 1, xcom_value=limit)

        ready(5)
    sensor = dag.get_task("ready")
    assert isinstance(sensor, PythonSensor)
    assert type(sensor).custom_operator_name == "@task.sensor"
    assert (sensor.poke_interval, sensor.timeout, sensor.mode) == (3, 9, "reschedule")
    assert sensor.poke({"ti": FakeTI()}).xcom_value == 5


def test_file_sensor_matches_files_globs_and_non_empty_directories(
    db: Path, tmp_path: Path
) -> None:
    with DAG("file_sensing", schedule=None, start_date=START):
        single = FileSensor(task_id="single", filepath=str(tmp_path / "data.csv"))
        pattern = FileSensor(task_id="pattern", filepath=str(tmp_path / "in" / "*.json"))
        deep = FileSensor(task_id="deep", filepath=str(tmp_path / "**" / "x.txt"), recursive=True)
        folder = FileSensor(task_id="folder", filepath=str(tmp_path / "box"))
    context: dict[str, Any] = {}
    assert not any(s.poke(context) for s in (single, pattern, deep, folder))
    (tmp_path / "data.csv").write_text("1")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text("{}")
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text("")
    (tmp_path / "box").mkdir()
    assert not folder.poke(context)  # an empty directory is not there yet
    (tmp_path / "box" / "item").write_text("")
    assert all(s.poke(context) for s in (single, pattern, deep, folder))


def test_file_sensor_joins_the_connection_path(db: Path, tmp_path: Path) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session() as session:
        session.add(
            models.Connection(conn_id="landing", conn_type="fs", extra=f'{{"path": "{tmp_path}"}}')
        )
    with DAG("file_conn", schedule=None, start_date=START):
        sensor = FileSensor(task_id="s", filepath="incoming.txt", fs_conn_id="landing")
        missing = FileSensor(task_id="m", filepath="x", fs_conn_id="nowhere")
    assert sensor.path == str(tmp_path / "incoming.txt")
    assert not sensor.poke({})
    (tmp_path / "incoming.txt").write_text("")
    assert sensor.poke({})
    with pytest.raises(AerovaneException, match="nowhere"):
        missing.poke({})


def test_time_sensors() -> None:
    now = dt.datetime.now(dt.UTC)
    with DAG("timing", schedule=None, start_date=START):
        past = DateTimeSensor(task_id="past", target_time=now - dt.timedelta(minutes=1))
        future = DateTimeSensor(task_id="future", target_time="{{ macros.ds_add(ds, 10000) }}")
        delta_past = TimeDeltaSensor(task_id="delta_past", delta=dt.timedelta(hours=1))
        delta_future = TimeDeltaSensor(task_id="delta_future", delta=dt.timedelta(days=99999))
        late = TimeSensor(task_id="late", target_time=dt.time.max)
    assert past.poke({}) is True
    context = {"data_interval_end": LOGICAL}
    assert delta_past.poke(context) is True and delta_future.poke(context) is False
    assert late.poke({}) is False
    with pytest.raises(TypeError):
        DateTimeSensor(task_id="bad", target_time=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TimeSensor(task_id="bad_time", target_time="noon")  # type: ignore[arg-type]
    with pytest.raises(AerovaneSensorTimeout):
        run_task(_rendered_future(future))


def _rendered_future(sensor: DateTimeSensor) -> DateTimeSensor:
    sensor.poke_interval, sensor.timeout = 0, 0
    return sensor


def test_day_of_week_sensor() -> None:
    today = WeekDay(dt.datetime.now(dt.UTC).isoweekday())
    other = WeekDay(today % 7 + 1)
    with DAG("weekdays", schedule=None, start_date=START):
        now_sensor = DayOfWeekSensor(task_id="now", week_day={today.name.lower(), other})
        not_today = DayOfWeekSensor(task_id="not_today", week_day=other)
        logical = DayOfWeekSensor(task_id="logical", week_day="Tuesday", use_task_logical_date=True)
    assert now_sensor.poke({}) and not not_today.poke({})
    assert logical.poke({"logical_date": LOGICAL})  # 2024-03-05 was a Tuesday
    assert WeekDay.validate_week_day(["monday", WeekDay.SUNDAY]) == {1, 7}
    with pytest.raises(AttributeError, match="Invalid Week Day"):
        WeekDay.validate_week_day("Funday")
    with pytest.raises(TypeError):
        WeekDay.validate_week_day(3)  # type: ignore[arg-type]


class OtherDag:
    """What the runtime's metadata client answers about another DAG, from a fixed table."""

    def __init__(self, task_states: dict[str, str], run_state: str | None = None) -> None:
        self.task_states = task_states
        self.run_state = run_state

    def count_task_instances(self, *, dag_id, task_ids, logical_dates, states) -> int:  # type: ignore[no-untyped-def]
        assert dag_id == "other" and logical_dates
        return sum(1 for t in task_ids if self.task_states.get(t) in states)

    def count_dag_runs(self, *, dag_id, logical_dates, states) -> int:  # type: ignore[no-untyped-def]
        return int(self.run_state in states)

    def dag_exists(self, dag_id: str) -> bool:
        return dag_id == "other"

    def dag_has_task(self, dag_id: str, task_id: str) -> bool:
        return task_id in self.task_states


def test_external_task_sensor_counts_states() -> None:
    with DAG("watcher", schedule=None, start_date=START):
        both = ExternalTaskSensor(
            task_id="both",
            external_dag_id="other",
            external_task_ids=["a", "b"],
            failed_states=["failed"],
            skipped_states=["skipped"],
            check_existence=True,
        )
        soft = ExternalTaskSensor(
            task_id="soft", external_dag_id="other", external_task_id="a",
            failed_states=["failed"], soft_fail=True,
        )  # fmt: skip
        whole = ExternalTaskSensor(
            task_id="whole", external_dag_id="other", execution_delta=dt.timedelta(days=1)
        )
        missing = ExternalTaskSensor(
            task_id="missing", external_dag_id="other", external_task_id="zz",
            check_existence=True,
        )  # fmt: skip

    def ctx(metadata: OtherDag) -> dict[str, Any]:
        return {"ti": SensorTI(metadata), "logical_date": LOGICAL}

    assert not both.poke(ctx(OtherDag({"a": "success", "b": "running"})))
    assert both.poke(ctx(OtherDag({"a": "success", "b": "success"})))
    with pytest.raises(AerovaneException, match="failed"):
        both.poke(ctx(OtherDag({"a": "success", "b": "failed"})))
    with pytest.raises(AerovaneSkipException, match="states-to-skip-on"):
        both.poke(ctx(OtherDag({"a": "skipped", "b": "success"})))
    with pytest.raises(AerovaneSkipException, match="soft_fail"):
        soft.poke(ctx(OtherDag({"a": "failed"})))
    assert whole.poke(ctx(OtherDag({}, run_state="success")))
    assert not whole.poke(ctx(OtherDag({}, run_state="running")))
    with pytest.raises(AerovaneException, match="does not exist"):
        missing.poke(ctx(OtherDag({"a": "success"})))
    assert whole._dates({"logical_date": LOGICAL}) == [LOGICAL - dt.timedelta(days=1)]


def test_external_task_sensor_date_function_and_validation() -> None:
    with DAG("watcher2", schedule=None, start_date=START):
        several = ExternalTaskSensor(
            task_id="several",
            external_dag_id="other",
            execution_date_fn=lambda logical_date, ds: [logical_date, logical_date.replace(hour=0)],
        )
        with pytest.raises(ValueError, match="Only one of `external_task_id`"):
            ExternalTaskSensor(
                task_id="x", external_dag_id="o", external_task_id="a", external_task_ids=["b"]
            )
        with pytest.raises(ValueError, match="Valid values"):
            ExternalTaskSensor(task_id="y", external_dag_id="o", allowed_states=["skipped"])
        with pytest.raises(AerovaneException, match="Duplicate values"):
            ExternalTaskSensor(
                task_id="z", external_dag_id="o", allowed_states=["success"],
                failed_states=["success"],
            )  # fmt: skip
        with pytest.raises(ValueError, match="Only one of `external_task_group_id`"):
            ExternalTaskSensor(
                task_id="g", external_dag_id="o", external_task_group_id="grp",
                external_task_ids=["a"],
            )  # fmt: skip
        with pytest.raises(ValueError, match="Valid values"):
            ExternalTaskSensor(
                task_id="h", external_dag_id="o", external_task_group_id="grp",
                allowed_states=["nonsense"],
            )  # fmt: skip
    context = {"logical_date": LOGICAL, "ds": "2024-03-05"}
    assert several._dates(context) == [LOGICAL, LOGICAL.replace(hour=0)]


def test_external_task_marker_carries_its_target_in_the_serialized_dag() -> None:
    with DAG("marking", schedule=None, start_date=START) as dag:
        ExternalTaskMarker(task_id="mark", external_dag_id="child", external_task_id="c1")
        ExternalTaskMarker(
            task_id="mark2",
            external_dag_id="child",
            external_task_id="c2",
            execution_date=START,
            recursion_depth=3,
        )
    serialized = SerializedDAG.from_dict(serialize_dag(dag))
    assert serialized.task_dict["mark"].extra_fields == {
        "external_dag_id": "child",
        "external_task_id": "c1",
        "execution_date": "{{ logical_date.isoformat() }}",
        "recursion_depth": 10,
    }
    assert serialized.task_dict["mark2"].extra_fields["execution_date"] == START.isoformat()
    assert serialized.task_dict["mark"].is_empty
    with pytest.raises(ValueError, match="recursion_depth"):
        ExternalTaskMarker(
            task_id="m", external_dag_id="c", external_task_id="t", recursion_depth=0
        )


def test_tasks_test_reports_a_reschedule_without_recording_it() -> None:
    from aerovane.runtime.test_mode import run_task_in_process

    with DAG("test_mode", schedule=None, start_date=START) as dag:
        PythonSensor(task_id="later", python_callable=lambda: False, mode="reschedule")
        PythonSensor(task_id="now", python_callable=lambda: 7, mode="reschedule")
    assert run_task_in_process(dag, "later", LOGICAL, None) == ("up_for_reschedule", None)
    assert run_task_in_process(dag, "now", LOGICAL, None) == ("success", None)
