"""`import airflow` for DAG files, served from Aerovane's authoring API.

DAG files written for Airflow 2 (`from airflow import DAG`, `airflow.operators.bash`,
`airflow.decorators`, `airflow.models.Variable`, `airflow.utils.dates.days_ago`, ...) load
unchanged. The shim is an import hook installed only in processes that import DAG files, and
only when no real `airflow` package is importable: an installed Airflow is never shadowed. An
import of a piece Aerovane does not have fails with an ImportError that names it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from aerovane import AIRFLOW_COMPAT_VERSION


def _authoring(*names: str) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        module = importlib.import_module("aerovane.authoring")
        return {name: getattr(module, name) for name in names}

    return load


def _from(module_name: str, **renames: str) -> Callable[[], dict[str, Any]]:
    def load() -> dict[str, Any]:
        module = importlib.import_module(module_name)
        return {alias: getattr(module, name) for alias, name in renames.items()}

    return load


def _public(module_name: str) -> Callable[[], dict[str, Any]]:
    """Every name in the module's `__all__`."""

    def load() -> dict[str, Any]:
        module = importlib.import_module(module_name)
        return {name: getattr(module, name) for name in module.__all__}

    return load


def _merge(*loaders: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    return lambda: {name: obj for load in loaders for name, obj in load().items()}


def _exceptions() -> dict[str, Any]:
    module = importlib.import_module("aerovane.authoring.exceptions")
    return {
        "AirflowException": module.AerovaneException,
        "AirflowSkipException": module.AerovaneSkipException,
        "AirflowFailException": module.AerovaneFailException,
        "AirflowTaskTimeout": module.AerovaneTaskTimeout,
        "AirflowNotFoundException": module.AerovaneNotFoundException,
        "AirflowSensorTimeout": module.AerovaneSensorTimeout,
        "AirflowRescheduleException": module.AerovaneRescheduleException,
        "ParamValidationError": module.ParamValidationError,
        "AirflowTaskTerminated": module.AerovaneTaskTerminated,
        "AirflowConfigException": module.AerovaneConfigException,
        "AirflowBadRequest": module.AerovaneBadRequest,
        "AirflowDagCycleException": module.AerovaneDagCycleException,
        "DuplicateTaskIdFound": module.DuplicateTaskIdFound,
        "DagNotFound": module.DagNotFound,
        "TaskNotFound": module.TaskNotFound,
        "RemovedInAirflow3Warning": module.RemovedInAirflow3Warning,
        "DagRunAlreadyExists": module.DagRunAlreadyExists,
        "TaskDeferred": module.TaskDeferred,
        "TaskDeferralError": module.TaskDeferralError,
    }


def _root() -> dict[str, Any]:
    names = _authoring("DAG", "Dataset", "XComArg")()
    return {**names, "__version__": AIRFLOW_COMPAT_VERSION}


_OPERATORS_PYTHON = _authoring(
    "PythonOperator",
    "BranchPythonOperator",
    "ShortCircuitOperator",
    "PythonVirtualenvOperator",
    "ExternalPythonOperator",
    "get_current_context",
)
_SENSORS = "aerovane.authoring.sensors"
_TRIGGERS = "aerovane.authoring.triggers"
_MODELS = _authoring("DAG", "BaseOperator", "Variable", "Connection", "Param")
_MODEL_NAMES = _from(
    "aerovane.authoring.models", XCom="XCom", DagRun="DagRun", TaskInstance="TaskInstance"
)
_TIMETABLES = "aerovane.authoring.timetables"
_PARAMS_DICT = _from("aerovane.authoring.params", ParamsDict="ParamsDict")
_CHAIN_LINEAR = _from("aerovane.authoring.dependencies", chain_linear="chain_linear")

#: Module name → loader of its public names. A name ending in "." is a package.
MODULES: dict[str, Callable[[], dict[str, Any]]] = {
    "airflow.": _root,
    "airflow.models.": _merge(_MODELS, _MODEL_NAMES, _PARAMS_DICT, _authoring("XComArg")),
    "airflow.models.xcom": _from("aerovane.authoring.models", XCom="XCom"),
    "airflow.models.dagrun": _from("aerovane.authoring.models", DagRun="DagRun"),
    "airflow.models.taskinstance": _from("aerovane.authoring.models", TaskInstance="TaskInstance"),
    "airflow.configuration": _from("aerovane.authoring.configuration", conf="conf"),
    "airflow.timetables.events": _from(_TIMETABLES, EventsTimetable="EventsTimetable"),
    "airflow.timetables.datasets": _from(
        _TIMETABLES, DatasetOrTimeSchedule="DatasetOrTimeSchedule"
    ),
    "airflow.io.": lambda: {},
    "airflow.io.path": _from(
        "aerovane.authoring.object_storage", ObjectStoragePath="ObjectStoragePath"
    ),
    "airflow.task.": lambda: {},
    "airflow.task.priority_strategy": _from(
        "aerovane.authoring.priority_strategy", PriorityWeightStrategy="PriorityWeightStrategy"
    ),
    "airflow.plugins_manager": _from(
        "aerovane.authoring.plugins",
        AirflowPlugin="AirflowPlugin",
        AirflowPluginException="AirflowPluginException",
    ),
    "airflow.listeners.": _from("aerovane.authoring.listeners", hookimpl="hookimpl"),
    "airflow.models.dag": _authoring("DAG"),
    "airflow.models.baseoperator": _merge(
        _authoring("BaseOperator", "chain", "cross_downstream"), _CHAIN_LINEAR
    ),
    "airflow.models.param": _merge(_authoring("Param"), _PARAMS_DICT),
    "airflow.models.variable": _authoring("Variable"),
    "airflow.models.connection": _authoring("Connection"),
    "airflow.operators.": lambda: {},
    "airflow.operators.bash": _authoring("BashOperator"),
    "airflow.operators.bash_operator": _authoring("BashOperator"),
    "airflow.operators.python": lambda: {
        **_OPERATORS_PYTHON(),
        **_from(
            "aerovane.authoring.operators.python_env",
            is_venv_installed="is_venv_installed",
            BranchPythonVirtualenvOperator="BranchPythonVirtualenvOperator",
            BranchExternalPythonOperator="BranchExternalPythonOperator",
        )(),
    },
    "airflow.operators.python_operator": _OPERATORS_PYTHON,
    "airflow.operators.empty": _authoring("EmptyOperator"),
    "airflow.operators.dummy": _authoring("DummyOperator", "EmptyOperator"),
    "airflow.operators.dummy_operator": _authoring("DummyOperator"),
    "airflow.operators.trigger_dagrun": _authoring("TriggerDagRunOperator"),
    "airflow.operators.branch": _authoring("BaseBranchOperator", "BranchPythonOperator"),
    "airflow.operators.latest_only": _authoring("LatestOnlyOperator"),
    "airflow.operators.weekday": _authoring("BranchDayOfWeekOperator"),
    "airflow.operators.datetime": _authoring("BranchDateTimeOperator"),
    "airflow.utils.weekday": _authoring("WeekDay"),
    "airflow.operators.email": _authoring("EmailOperator"),
    "airflow.operators.email_operator": _authoring("EmailOperator"),
    "airflow.utils.email": _from(
        "aerovane.authoring.email",
        send_email="send_email",
        send_email_smtp="send_email_smtp",
        send_mime_email="send_mime_email",
        build_mime_message="build_mime_message",
        get_email_address_list="get_email_address_list",
    ),
    "airflow.decorators.": _public("aerovane.authoring.decorators"),
    "airflow.datasets.": _merge(
        _authoring("Dataset", "DatasetAll", "DatasetAny"),
        _from(
            "aerovane.authoring.datasets", DatasetAlias="DatasetAlias", BaseDataset="BaseDataset"
        ),
    ),
    "airflow.datasets.metadata": _from("aerovane.authoring.datasets", Metadata="Metadata"),
    "airflow.triggers.": lambda: {},
    "airflow.triggers.base": _from(
        _TRIGGERS + ".base", BaseTrigger="BaseTrigger", TriggerEvent="TriggerEvent"
    ),
    "airflow.triggers.temporal": _from(
        _TRIGGERS + ".temporal",
        DateTimeTrigger="DateTimeTrigger",
        TimeDeltaTrigger="TimeDeltaTrigger",
    ),
    "airflow.triggers.file": _from(_TRIGGERS + ".file", FileTrigger="FileTrigger"),
    "airflow.triggers.external_task": _from(
        _TRIGGERS + ".external_task", WorkflowTrigger="WorkflowTrigger"
    ),
    "airflow.sensors.": lambda: {},
    "airflow.sensors.base": _from(
        _SENSORS + ".base",
        BaseSensorOperator="BaseSensorOperator",
        PokeReturnValue="PokeReturnValue",
        poke_mode_only="poke_mode_only",
    ),
    "airflow.sensors.bash": _from(_SENSORS + ".bash", BashSensor="BashSensor"),
    "airflow.sensors.python": _from(_SENSORS + ".python", PythonSensor="PythonSensor"),
    "airflow.sensors.filesystem": _from(_SENSORS + ".filesystem", FileSensor="FileSensor"),
    "airflow.sensors.time_sensor": _from(
        _SENSORS + ".time_sensor", TimeSensor="TimeSensor", TimeSensorAsync="TimeSensorAsync"
    ),
    "airflow.sensors.time_delta": _from(
        _SENSORS + ".time_delta",
        TimeDeltaSensor="TimeDeltaSensor",
        TimeDeltaSensorAsync="TimeDeltaSensorAsync",
    ),
    "airflow.sensors.date_time": _from(
        _SENSORS + ".date_time",
        DateTimeSensor="DateTimeSensor",
        DateTimeSensorAsync="DateTimeSensorAsync",
    ),
    "airflow.sensors.weekday": _from(_SENSORS + ".weekday", DayOfWeekSensor="DayOfWeekSensor"),
    "airflow.sensors.external_task": _from(
        _SENSORS + ".external_task",
        ExternalTaskSensor="ExternalTaskSensor",
        ExternalTaskMarker="ExternalTaskMarker",
        ExternalDagLink="ExternalDagLink",
    ),
    "airflow.exceptions": _exceptions,
    "airflow.macros.": _public("aerovane.authoring.macros"),
    "airflow.utils.": lambda: {},
    "airflow.utils.dates": _public("aerovane.authoring.dates"),
    "airflow.utils.timezone": _public("aerovane.authoring.timezone"),
    "airflow.utils.task_group": _authoring("TaskGroup"),
    "airflow.utils.edgemodifier": _from(
        "aerovane.authoring.edge_labels", EdgeModifier="EdgeModifier", Label="Label"
    ),
    "airflow.models.xcom_arg": _from(
        "aerovane.authoring.xcom_arg",
        XComArg="XComArg",
        MapXComArg="MapXComArg",
        ZipXComArg="ZipXComArg",
    ),
    "airflow.timetables.": lambda: {},
    "airflow.timetables.base": _from(
        "aerovane.authoring.timetables",
        DagRunInfo="DagRunInfo",
        DataInterval="DataInterval",
        TimeRestriction="TimeRestriction",
        Timetable="Timetable",
    ),
    "airflow.timetables.interval": _from(
        "aerovane.authoring.timetables",
        CronDataIntervalTimetable="CronDataIntervalTimetable",
        DeltaDataIntervalTimetable="DeltaDataIntervalTimetable",
    ),
    "airflow.timetables.trigger": _from(
        "aerovane.authoring.timetables", CronTriggerTimetable="CronTriggerTimetable"
    ),
    "airflow.timetables.simple": _from(
        "aerovane.authoring.timetables",
        NullTimetable="NullTimetable",
        OnceTimetable="OnceTimetable",
        ContinuousTimetable="ContinuousTimetable",
    ),
    "airflow.utils.trigger_rule": _authoring("TriggerRule"),
    "airflow.utils.helpers": _merge(
        _authoring("chain", "cross_downstream"),
        _CHAIN_LINEAR,
        _public("aerovane.authoring.helpers"),
    ),
    "airflow.utils.log.": lambda: {},
    "airflow.utils.log.secrets_masker": _from(
        "aerovane.authoring.secrets_masker",
        mask_secret="mask_secret",
        redact="redact",
        should_hide_value_for_key="should_hide_value_for_key",
    ),
}
_PACKAGES = {name[:-1] for name in MODULES if name.endswith(".")}
_LOADERS = {name.rstrip("."): loader for name, loader in MODULES.items()}


class _ShimModule(types.ModuleType):
    """Loads submodules on attribute access, so `import airflow; airflow.utils.dates` works."""

    def __getattr__(self, name: str) -> Any:
        full = f"{self.__name__}.{name}"
        if full in _LOADERS:
            return importlib.import_module(full)
        raise AttributeError(
            f"module {self.__name__!r} has no attribute {name!r} "
            f"(Aerovane's Airflow compatibility does not provide {full})"
        )


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _ShimModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__.update(_LOADERS[module.__name__]())
        module.__dict__["__aerovane_shim__"] = True


class AirflowShimFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "airflow" and not fullname.startswith("airflow."):
            return None
        if fullname not in _LOADERS:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: Aerovane runs Airflow DAG files without Airflow "
                f"installed but does not provide {fullname} (it provides "
                + ", ".join(sorted(_LOADERS))
                + ")",
                name=fullname,
            )
        spec = importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=fullname in _PACKAGES)
        if fullname in _PACKAGES:
            spec.submodule_search_locations = []
        return spec


_FINDER = AirflowShimFinder()


def real_airflow_installed() -> bool:
    if "airflow" in sys.modules:
        return not getattr(sys.modules["airflow"], "__aerovane_shim__", False)
    installed = _FINDER in sys.meta_path
    if installed:
        sys.meta_path.remove(_FINDER)
    try:
        return importlib.util.find_spec("airflow") is not None
    finally:
        if installed:
            sys.meta_path.append(_FINDER)


def airflow_module_of(cls: type) -> str | None:
    """The Airflow module an Aerovane class is served from, as Airflow's `class_ref` names it:
    the first module in the map that exports it (the map lists the defining module before
    deprecated aliases such as `airflow.operators.bash_operator`); None if none does."""
    return _class_modules().get(cls)


@functools.cache
def _class_modules() -> dict[type, str]:
    found: dict[type, str] = {}
    for name, load in MODULES.items():
        if name.endswith("."):
            continue  # packages re-export what their modules define
        for value in load().values():
            if isinstance(value, type):
                found.setdefault(value, name)
    return found


def imports_airflow(source: str) -> bool:
    """Whether Python source imports `airflow` or one of its modules (statically)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "airflow" or n.startswith("airflow.") for n in names):
            return True
    return False


def install() -> bool:
    """Serve `airflow.*` from Aerovane unless a real Airflow is importable; True if installed."""
    if _FINDER in sys.meta_path:
        return True
    if real_airflow_installed():
        return False
    sys.meta_path.append(_FINDER)
    return True


def uninstall() -> None:
    """Stop serving `airflow.*` and forget the modules served (tests)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n, m in sys.modules.items() if getattr(m, "__aerovane_shim__", False)]:
        del sys.modules[name]
