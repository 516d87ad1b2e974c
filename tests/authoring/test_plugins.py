"""Loading `AirflowPlugin`s from the plugins folder: macros, timetables, listeners, bad files."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aerovane.authoring import macros
from aerovane.authoring.listeners import hookimpl, notify
from aerovane.authoring.plugins import load_plugins, registered_timetable, reset_plugins
from aerovane.authoring.timetables import timetable_from_dict, timetable_to_dict


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """`[core] plugins_folder`, emptied of loaded plugins (and the shim) afterwards."""
    from aerovane.compat import airflow_shim
    from aerovane.config import reload_settings

    path = tmp_path / "plugins"
    path.mkdir()
    monkeypatch.setenv("AEROVANE__CORE__PLUGINS_FOLDER", str(path))
    reload_settings()
    try:
        yield path
    finally:
        reset_plugins()
        airflow_shim.uninstall()


def write(folder: Path, name: str, source: str) -> None:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(source))


GOOD = """
    from airflow.plugins_manager import AirflowPlugin
    from airflow.timetables.base import DataInterval, Timetable

    def double(x):
        return 2 * x

    class Hourly(Timetable):
        def __init__(self, n=1):
            self.n = n
        def next_dagrun_info(self, *, last_automated_data_interval, restriction):
            return None
        def infer_manual_data_interval(self, *, run_after):
            return DataInterval.exact(run_after)
        def serialize(self):
            return {"n": self.n}
        @classmethod
        def deserialize(cls, data):
            return cls(data["n"])

    LOADS = []

    class MathPlugin(AirflowPlugin):
        name = "math"
        macros = [double]
        timetables = [Hourly]

        @classmethod
        def on_load(cls, *args, **kwargs):
            LOADS.append(cls.name)
"""


def test_plugins_register_macros_and_timetables(folder: Path) -> None:
    write(folder, "math_plugin.py", GOOD)
    write(
        folder,
        "sub/nameless.py",
        "from airflow.plugins_manager import AirflowPlugin\n"
        "class Nameless(AirflowPlugin):\n    pass\n",
    )
    write(folder, "broken.py", "raise RuntimeError('bad plugin')\n")
    loaded = load_plugins()
    assert [p.name for p in loaded.plugins] == ["math"]
    assert load_plugins() is loaded  # imported once per process
    import math_plugin  # the folder is importable, as DAG files expect

    assert math_plugin.LOADS == ["math"]
    assert macros.math.double(21) == 42  # type: ignore[attr-defined]
    assert sorted(Path(p).name for p in loaded.import_errors) == ["broken.py", "nameless.py"]
    assert "bad plugin" in loaded.import_errors[str(folder / "broken.py")]
    assert "needs a name" in loaded.import_errors[str(folder / "sub" / "nameless.py")]

    data = timetable_to_dict(math_plugin.Hourly(3))
    assert data == {"__type": "custom", "class": "math_plugin.Hourly", "data": {"n": 3}}
    rebuilt = timetable_from_dict(data)
    assert type(rebuilt) is math_plugin.Hourly and rebuilt.n == 3
    with pytest.raises(ValueError, match="not registered"):
        registered_timetable("math_plugin.Nope")


def test_reset_forgets_modules_macros_and_path(folder: Path) -> None:
    import sys

    write(folder, "math_plugin.py", GOOD)
    load_plugins()
    reset_plugins()
    assert "math_plugin" not in sys.modules
    assert str(folder.resolve()) not in sys.path
    assert not hasattr(macros, "math")


def test_an_empty_or_missing_folder_loads_nothing(tmp_path: Path) -> None:
    try:
        assert load_plugins(tmp_path / "absent").plugins == []
    finally:
        reset_plugins()


class Listener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def on_task_instance_running(self, task_instance: Any) -> None:
        self.calls.append(("running", task_instance))

    @hookimpl()
    def on_task_instance_failed(self, previous_state: Any, error: BaseException) -> None:
        self.calls.append(("failed", (previous_state, str(error))))

    def on_task_instance_success(self, task_instance: Any) -> None:
        self.calls.append(("unmarked", task_instance))  # not a hookimpl: never called


class Raising:
    @hookimpl
    def on_task_instance_running(self) -> None:
        raise RuntimeError("listener bug")


def test_listeners_get_the_arguments_they_name(caplog: pytest.LogCaptureFixture) -> None:
    listener = Listener()
    args = {"previous_state": "queued", "task_instance": "ti", "session": None}
    notify([Raising(), listener], "on_task_instance_running", **args)
    notify([listener], "on_task_instance_success", **args)
    notify([listener], "on_task_instance_failed", error=ValueError("boom"), **args)
    assert listener.calls == [("running", "ti"), ("failed", ("queued", "boom"))]
    assert "listener bug" in caplog.text
    with pytest.raises(ValueError, match="unknown listener hook"):
        notify([listener], "on_dag_run_running")


STRATEGY = """
    from airflow.plugins_manager import AirflowPlugin
    from airflow.task.priority_strategy import PriorityWeightStrategy

    class Fixed(PriorityWeightStrategy):
        def __init__(self, value=5):
            self.value = value
        def get_weight(self, ti):
            return self.value
        def serialize(self):
            return {"value": self.value}

    class Unregistered(PriorityWeightStrategy):
        def get_weight(self, ti):
            return 1

    class StrategyPlugin(AirflowPlugin):
        name = "strategies"
        priority_weight_strategies = [Fixed]
"""


def test_priority_weight_strategies_must_be_registered(folder: Path) -> None:
    from aerovane.authoring import DAG, EmptyOperator
    from aerovane.authoring.exceptions import AerovaneDagError
    from aerovane.authoring.serialization import SerializedDAG, serialize_dag
    from aerovane.db import models

    write(folder, "strategy_plugin.py", STRATEGY)
    load_plugins()
    import strategy_plugin

    with DAG("weighted", schedule=None) as dag:
        EmptyOperator(task_id="inst", weight_rule=strategy_plugin.Fixed(9))
        EmptyOperator(task_id="path", weight_rule="strategy_plugin.Fixed")
        EmptyOperator(task_id="plain", weight_rule="upstream")
        with pytest.raises(AerovaneDagError, match="registered by a plugin"):
            EmptyOperator(task_id="bad", weight_rule="strategy_plugin.Unregistered")
        with pytest.raises(AerovaneDagError, match="registered by a plugin"):
            EmptyOperator(task_id="bad2", weight_rule=strategy_plugin.Unregistered())
    restored = SerializedDAG(serialize_dag(dag))
    weights = {
        task_id: task.priority_weight_for(models.TaskInstance(try_number=0))
        for task_id, task in restored.task_dict.items()
    }
    assert weights == {"inst": 9, "path": 5, "plain": 1}
    assert restored.task_dict["inst"].weight_rule == "strategy_plugin.Fixed"
