"""Plugins: `AirflowPlugin` subclasses found in `[core] plugins_folder`.

Owns finding and importing the plugin files (once per process, on first use, in the processes
that import DAG files, run tasks, deserialize DAGs or list plugins) and the registries they
fill: macros (`macros.<plugin name>.<fn>` in templates), timetables (usable in DAGs and
rebuilt by the scheduler from their class path), and listeners. As in Airflow, each file is
imported as a top-level module named after the file and the folder is put on `sys.path`, so a
DAG file can `from workday import AfterWorkdayTimetable`. A plugin file that fails to import
is logged and listed in `import_errors`; the other plugins still load. Nothing here touches the
database.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AirflowPlugin",
    "AirflowPluginException",
    "LoadedPlugins",
    "load_plugins",
    "registered_priority_weight_strategy",
    "registered_timetable",
    "reset_plugins",
]

log = logging.getLogger("aerovane.plugins")


class AirflowPluginException(Exception):
    """A plugin is invalid (e.g. it has no name)."""


class AirflowPlugin:
    """Base class of a plugin: a name and lists of what it contributes (Airflow's attributes)."""

    name: str | None = None
    source: Any = None
    hooks: list[Any] = []
    executors: list[Any] = []
    macros: list[Any] = []
    admin_views: list[Any] = []
    flask_blueprints: list[Any] = []
    menu_links: list[Any] = []
    appbuilder_views: list[Any] = []
    appbuilder_menu_items: list[Any] = []
    global_operator_extra_links: list[Any] = []
    operator_extra_links: list[Any] = []
    ti_deps: list[Any] = []
    timetables: list[Any] = []
    listeners: list[Any] = []
    hook_lineage_readers: list[Any] = []
    priority_weight_strategies: list[Any] = []

    @classmethod
    def validate(cls) -> None:
        if not cls.name:
            raise AirflowPluginException("Your plugin needs a name.")

    @classmethod
    def on_load(cls, *args: Any, **kwargs: Any) -> None:
        """Called once when the plugin is loaded."""


@dataclass
class LoadedPlugins:
    folder: Path | None
    plugins: list[AirflowPlugin] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    import_errors: dict[str, str] = field(default_factory=dict)
    timetables: dict[str, type] = field(default_factory=dict)
    priority_weight_strategies: dict[str, type] = field(default_factory=dict)
    listeners: list[Any] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    added_to_path: bool = False


_lock = threading.Lock()
_loaded: LoadedPlugins | None = None


def _plugin_folder() -> Path:
    from aerovane.config import get_settings

    return get_settings().plugins_folder


def _plugin_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*.py")
        if p.is_file()
        and not p.name.startswith((".", "__"))
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _import_file(path: Path) -> types.ModuleType:
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _plugin_classes(module: types.ModuleType) -> list[type[AirflowPlugin]]:
    found = []
    for obj in list(vars(module).values()):
        if (
            isinstance(obj, type)
            and issubclass(obj, AirflowPlugin)
            and obj is not AirflowPlugin
            and obj.__module__ == module.__name__
        ):
            found.append(obj)
    return found


def _integrate_macros(plugin: AirflowPlugin) -> None:
    """`macros.<plugin name>.<fn>`: a namespace module on the macros module, as Airflow does."""
    macros = importlib.import_module("aerovane.authoring.macros")
    namespace = types.ModuleType(f"{macros.__name__}.{plugin.name}")
    for fn in plugin.macros:
        setattr(namespace, fn.__name__, fn)
    setattr(macros, str(plugin.name), namespace)


def load_plugins(folder: Path | None = None) -> LoadedPlugins:
    """The plugins of `folder` (default `[core] plugins_folder`), imported once per process."""
    global _loaded
    folder = (folder or _plugin_folder()).resolve()
    with _lock:
        if _loaded is not None and _loaded.folder == folder:
            return _loaded
        loaded = LoadedPlugins(folder=folder)
        files = _plugin_files(folder)
        if files:
            # Plugin files import `airflow.plugins_manager`, `airflow.timetables.base`, ...
            importlib.import_module("aerovane.compat.airflow_shim").install()
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
                loaded.added_to_path = True
        for path in files:
            try:
                module = _import_file(path)
                loaded.modules.append(module.__name__)
                for cls in _plugin_classes(module):
                    cls.validate()
                    cls.on_load()
                    plugin = cls()
                    loaded.plugins.append(plugin)
                    loaded.sources[str(cls.name)] = f"$PLUGINS_FOLDER/{path.relative_to(folder)}"
            except Exception:
                log.exception("Failed to import plugin %s", path)
                loaded.import_errors[str(path)] = traceback.format_exc()
        for plugin in loaded.plugins:
            if plugin.macros:
                _integrate_macros(plugin)
            for timetable in plugin.timetables:
                loaded.timetables[f"{timetable.__module__}.{timetable.__qualname__}"] = timetable
            for strategy in plugin.priority_weight_strategies:
                path = f"{strategy.__module__}.{strategy.__qualname__}"
                loaded.priority_weight_strategies[path] = strategy
            loaded.listeners.extend(plugin.listeners)
        _loaded = loaded
        return loaded


def reset_plugins() -> None:
    """Forget loaded plugins: their modules, macros and `sys.path` entry (tests)."""
    global _loaded
    with _lock:
        if _loaded is not None:
            macros = importlib.import_module("aerovane.authoring.macros")
            for plugin in _loaded.plugins:
                if plugin.macros and hasattr(macros, str(plugin.name)):
                    delattr(macros, str(plugin.name))
            for name in _loaded.modules:
                sys.modules.pop(name, None)
            if _loaded.added_to_path and str(_loaded.folder) in sys.path:
                sys.path.remove(str(_loaded.folder))
        _loaded = None


def registered_timetable(class_path: str) -> type:
    """The timetable class a plugin registered under `module.QualName`."""
    timetables = load_plugins().timetables
    try:
        return timetables[class_path]
    except KeyError:
        raise ValueError(
            f"Timetable class {class_path!r} is not registered by a plugin in [core] plugins_folder"
        ) from None


def registered_priority_weight_strategy(class_path: str) -> type:
    """The priority-weight strategy class a plugin registered under `module.QualName`."""
    strategies = load_plugins().priority_weight_strategies
    try:
        return strategies[class_path]
    except KeyError:
        raise ValueError(
            f"Priority weight strategy {class_path!r} is not registered by a plugin in "
            "[core] plugins_folder"
        ) from None


def _qualname(obj: Any) -> str:
    if callable(obj) and hasattr(obj, "__module__") and hasattr(obj, "__name__"):
        return f"{obj.__module__}.{obj.__name__}"
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def plugin_info() -> list[dict[str, Any]]:
    """What `/api/v1/plugins` lists for each loaded plugin (Airflow's `get_plugin_info` shape:
    names of the contributed objects, never the objects)."""
    loaded = load_plugins()
    info = []
    for plugin in loaded.plugins:
        info.append(
            {
                "name": str(plugin.name),
                "hooks": [_qualname(h) for h in plugin.hooks],
                "executors": [_qualname(e) for e in plugin.executors],
                "macros": [_qualname(m) for m in plugin.macros],
                "flask_blueprints": [f"<{_qualname(b)}>" for b in plugin.flask_blueprints],
                "appbuilder_views": [
                    {str(k): str(v) for k, v in view.items() if k != "view"}
                    for view in plugin.appbuilder_views
                    if isinstance(view, dict)
                ],
                "appbuilder_menu_items": [
                    {str(k): str(v) for k, v in item.items()}
                    for item in plugin.appbuilder_menu_items
                    if isinstance(item, dict)
                ],
                "global_operator_extra_links": [
                    f"<{_qualname(link)} object>" for link in plugin.global_operator_extra_links
                ],
                "operator_extra_links": [
                    f"<{_qualname(link)} object>" for link in plugin.operator_extra_links
                ],
                "source": loaded.sources.get(str(plugin.name)),
                "ti_deps": [_qualname(dep) for dep in plugin.ti_deps],
                "listeners": [
                    listener.__name__
                    if isinstance(listener, types.ModuleType)
                    else _qualname(listener)
                    for listener in plugin.listeners
                ],
                "timetables": [_qualname(t) for t in plugin.timetables],
            }
        )
    return info
