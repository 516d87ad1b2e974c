"""`[logging] remote_logging` with the local executor: each ended attempt's log, a success and
a failure, is copied to the remote folder under its path in the local log folder (as a Celery
worker copies it: tests/executors/test_celery.py), so it outlives the scheduler's host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import Engine, wait_for

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"
DAG_FILES = {
    "remote_logged.py": f"""
        import datetime
        from aerovane.authoring import DAG, task
        with DAG("remote_logged", schedule=None, start_date={START}):
            @task
            def fine():
                print("fine says hello to the remote store", flush=True)

            @task
            def broken():
                print("broken is about to fail", flush=True)
                raise RuntimeError("broken on purpose")

            fine() >> broken()
    """,
}


@pytest.fixture(scope="module")
def remote_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("remote-logs")


@pytest.fixture(scope="module")
def engine_env(remote_folder: Path) -> Iterator[dict[str, str]]:
    yield {
        "AEROVANE__LOGGING__REMOTE_LOGGING": "True",
        "AEROVANE__LOGGING__REMOTE_BASE_LOG_FOLDER": str(remote_folder),
    }


def test_each_ended_attempts_log_is_copied_to_the_remote_folder(
    engine: Engine, remote_folder: Path
) -> None:
    engine.wait_dag("remote_logged")
    run_id = engine.trigger("remote_logged")
    assert engine.wait_run("remote_logged", run_id) == "failed"
    from aerovane.config import get_settings
    from aerovane.services.task_logs import log_path

    local_root = get_settings().base_log_folder
    for task_id, line in (
        ("fine", "fine says hello to the remote store"),
        ("broken", "broken is about to fail"),
    ):
        local = engine.log("remote_logged", run_id, task_id)
        assert line in local
        remote = remote_folder / log_path("remote_logged", run_id, task_id, 1).relative_to(
            local_root
        )
        wait_for(remote.exists, 120, f"{remote} to be copied")
        wait_for(lambda r=remote: line in r.read_text(), 120, f"{remote} to be whole")
