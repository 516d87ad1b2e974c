"""Runs in a forked child: import one DAG file and write its serialized DAGs (or the traceback)
as JSON to the result path the manager chose."""

from __future__ import annotations

import json
import logging
import os
import traceback
from pathlib import Path
from typing import Any


def parse_result(path: str, dags_folder: Path) -> dict[str, Any]:
    """Import one DAG file in this process: `{"dags": [serialized...], "error": None}`, or no
    DAGs and the traceback (what `store_parse_result` takes; also `dags reserialize`'s)."""
    from aerovane.authoring.serialization import serialize_dag
    from aerovane.compat import airflow_shim
    from aerovane.dag_processing.importer import import_dag_file

    try:
        dags, _ = import_dag_file(path, dags_folder)
        serialized = [serialize_dag(d) for d in dags.values()]
        if airflow_shim.imports_airflow(Path(path).read_text(encoding="utf-8", errors="replace")):
            for dag, data in zip(dags.values(), serialized, strict=True):
                _name_operators_as_airflow(dag, data)
        return {"dags": serialized, "error": None}
    except BaseException:  # noqa: BLE001 - any failure is an import error to report
        return {"dags": [], "error": traceback.format_exc()}


def parse_file(payload: dict[str, Any]) -> int:
    path: str = payload["path"]
    result_path = Path(payload["result_path"])
    # User code may print or log at import time; keep it out of the server's terminal.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    logging.getLogger().handlers.clear()
    result = parse_result(path, Path(payload["dags_folder"]))
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(result_path)
    return 0


def _name_operators_as_airflow(dag: Any, data: dict[str, Any]) -> None:
    """A file written for Airflow sees its operators as Airflow's (`class_ref.module_path`
    `airflow.operators.bash`, not Aerovane's module), as the API reports them on Airflow."""
    from aerovane.compat.airflow_shim import airflow_module_of

    for entry in data["tasks"]:
        module = airflow_module_of(type(dag.task_dict[entry["task_id"]]))
        if module is not None:
            entry["operator_module"] = module
