"""A real `aerovane scheduler` process per test module, over a DAGs folder the module fills.

Tests trigger runs through the services (as the API does) and observe the database and log
files; nothing in the engine is replaced or faked.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import subprocess_home


@dataclass
class Engine:
    home: Path
    dags: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, **kw: Any) -> str:
        from aerovane.db.engine import create_session
        from aerovane.scheduler.wakeup import notify_schedulers
        from aerovane.services.dag_runs import trigger_dag_run

        with create_session() as session:
            run = trigger_dag_run(dag_id, conf=conf, session=session, **kw)
            run_id = run.run_id
        notify_schedulers()
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        from sqlalchemy import select

        from aerovane.db import models
        from aerovane.db.engine import create_session

        with create_session(readonly=True) as session:
            return session.scalar(
                select(models.DagRun.state).where(
                    models.DagRun.dag_id == dag_id, models.DagRun.run_id == run_id
                )
            )

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 30) -> str:
        state = wait_for(
            lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
            timeout,
            f"run {dag_id}/{run_id} to finish",
        )
        return str(state)

    def tis(self, dag_id: str, run_id: str) -> dict[str, Any]:
        from sqlalchemy import select

        from aerovane.db import models
        from aerovane.db.engine import create_session

        with create_session(readonly=True) as session:
            rows = session.scalars(
                select(models.TaskInstance).where(
                    models.TaskInstance.dag_id == dag_id, models.TaskInstance.run_id == run_id
                )
            ).all()
            return {ti.task_id: ti for ti in rows}

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        from aerovane.services.task_logs import log_path

        path = log_path(dag_id, run_id, task_id, try_number)
        return path.read_text() if path.exists() else ""

    def wait_dag(self, dag_id: str, timeout: float = 120) -> None:
        from aerovane.db import models
        from aerovane.db.engine import create_session

        def parsed() -> bool:
            with create_session(readonly=True) as session:
                row = session.get(models.DagModel, dag_id)
                return row is not None and row.is_active

        wait_for(parsed, timeout, f"DAG {dag_id} to be parsed")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_dag(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    """Extra AEROVANE_* settings for the scheduler; a test module may override this fixture."""
    return {}


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    engine_env: dict[str, str],
) -> Iterator[Engine]:
    from aerovane.config import get_settings

    home = tmp_path_factory.mktemp("engine") / "home"
    overrides = {"AEROVANE__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False", **engine_env}
    with subprocess_home(home, overrides) as env:
        settings = get_settings()
        eng = Engine(home=home, dags=settings.dags_folder, env=env)
        plugins = getattr(request.module, "PLUGIN_FILES", {})
        if plugins:
            settings.plugins_folder.mkdir(parents=True, exist_ok=True)
        for name, source in plugins.items():
            write_dag(settings.plugins_folder, name, source)
        fill = getattr(request.module, "DAG_FILES", {})
        for name, source in fill.items():
            write_dag(eng.dags, name, source)
        eng.proc = subprocess.Popen(
            [sys.executable, "-m", "aerovane", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(home / "scheduler.log", "wb"),  # noqa: SIM115
        )
        try:
            yield eng
        finally:
            eng.proc.send_signal(signal.SIGTERM)
            try:
                eng.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                eng.proc.kill()
                eng.proc.wait()
            if plugins:  # triggering runs here rebuilt the plugins' timetables and strategies
                from aerovane.authoring.plugins import reset_plugins
                from aerovane.compat import airflow_shim

                reset_plugins()
                airflow_shim.uninstall()
