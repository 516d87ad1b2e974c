"""Importing one DAG file and collecting the DAGs it defines.

Used only inside isolated processes (the parse worker and the task runner): user code runs
here, never in the scheduler or the API server.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def module_name_for(path: str) -> str:
    digest = hashlib.sha1(path.encode()).hexdigest()  # noqa: S324 - a name, not security
    return f"unusual_prefix_{digest}_{Path(path).stem}"


def import_dag_file(
    path: str, dags_folder: Path | None = None
) -> tuple[dict[str, object], ModuleType]:
    """Execute the file as a fresh module; return its DAGs by id and the module."""
    from aerovane.authoring.dag import DAG, collect_autoregistered_dags
    from aerovane.compat import airflow_shim

    airflow_shim.install()
    from aerovane.authoring.plugins import load_plugins

    load_plugins()  # DAG files may import plugin modules and use their timetables and macros

    for folder in (dags_folder, Path(path).parent):
        if folder is not None and str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    collect_autoregistered_dags()
    spec.loader.exec_module(module)
    found: dict[str, DAG] = {}
    for obj in list(vars(module).values()):
        if isinstance(obj, DAG):
            found[obj.dag_id] = obj
    # DAGs built in a `with DAG(...)` block or by calling an @dag function without assigning
    # the result are registered on creation, as Airflow 2.4+ auto-registers them.
    for obj in collect_autoregistered_dags():
        found.setdefault(obj.dag_id, obj)
    return found, module
