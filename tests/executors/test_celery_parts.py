"""The Celery executor's parts in-process: the worker log server and its tokens, the executor
setting, and how the scheduler judges an ended process it cannot see (another host)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from aerovane.executors.base import ProcessEnded, TaskKey

SECRET = "a-shared-secret"


@pytest.fixture
def log_server(aerovane_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from aerovane.config import get_settings, reload_settings
    from aerovane.executors.celery.log_server import LogServer

    monkeypatch.setenv("AEROVANE__WEBSERVER__SECRET_KEY", SECRET)
    reload_settings()
    logs = get_settings().base_log_folder
    (logs / "dag_id=d" / "run_id=r" / "task_id=t").mkdir(parents=True)
    (logs / "dag_id=d" / "run_id=r" / "task_id=t" / "attempt=1.log").write_text("hello\n")
    (aerovane_home / "secret.txt").write_text("not a log\n")
    server = LogServer(port=0, host="127.0.0.1")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/log/"
    finally:
        server.stop()


FILE = "dag_id=d/run_id=r/task_id=t/attempt=1.log"


def test_the_log_server_answers_the_one_file_a_token_names(log_server: str) -> None:
    from aerovane.services import log_tokens

    ok = httpx.get(log_server + FILE, headers={"Authorization": log_tokens.sign(FILE)})
    assert (ok.status_code, ok.text) == (200, "hello\n")
    other = log_tokens.sign("dag_id=d/run_id=r/task_id=t/attempt=2.log")
    assert httpx.get(log_server + FILE, headers={"Authorization": other}).status_code == 403
    assert httpx.get(log_server + FILE).status_code == 403
    escape = "../secret.txt"
    forged = {"Authorization": log_tokens.sign(escape)}
    assert httpx.get(log_server + escape, headers=forged).status_code in (403, 404)
    assert httpx.get(log_server + "%2E%2E/secret.txt", headers=forged).status_code == 403
    missing = "dag_id=d/run_id=r/task_id=t/attempt=9.log"
    token = {"Authorization": log_tokens.sign(missing)}
    assert httpx.get(log_server + missing, headers=token).status_code == 404


def test_expired_wrong_audience_or_foreign_tokens_are_refused(log_server: str) -> None:
    from aerovane.services import log_tokens

    now = dt.datetime.now(dt.UTC)
    key = log_tokens._secret()

    def token(**claims: object) -> dict[str, str]:
        base = {"filename": FILE, "aud": log_tokens.AUDIENCE, "iat": now, "nbf": now}
        base["exp"] = now + dt.timedelta(seconds=30)
        base.update(claims)
        return {"Authorization": jwt.encode(base, key, algorithm="HS512")}

    assert httpx.get(log_server + FILE, headers=token()).status_code == 200
    expired = token(exp=now - dt.timedelta(minutes=5), iat=now - dt.timedelta(minutes=6))
    assert httpx.get(log_server + FILE, headers=expired).status_code == 403
    assert httpx.get(log_server + FILE, headers=token(aud="other")).status_code == 403
    foreign = jwt.encode(
        {"filename": FILE, "aud": log_tokens.AUDIENCE, "exp": now + dt.timedelta(seconds=30)},
        b"x" * 64,
        algorithm="HS512",
    )
    assert httpx.get(log_server + FILE, headers={"Authorization": foreign}).status_code == 403


def test_without_a_secret_nothing_is_signed_or_served(
    log_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.config import reload_settings
    from aerovane.services import log_tokens

    token = log_tokens.sign(FILE)
    monkeypatch.setenv("AEROVANE__WEBSERVER__SECRET_KEY", "")
    reload_settings()
    with pytest.raises(log_tokens.NoSecret):
        log_tokens.sign(FILE)
    assert httpx.get(log_server + FILE, headers={"Authorization": token}).status_code == 403


@pytest.mark.parametrize(
    ("raw", "executor"),
    [
        ("CeleryExecutor", "CeleryExecutor"),
        ("airflow.providers.celery.executors.celery_executor.CeleryExecutor", "CeleryExecutor"),
        ("airflow.executors.local_executor.LocalExecutor", "LocalExecutor"),
    ],
)
def test_the_executor_setting_takes_airflows_names(raw: str, executor: str) -> None:
    from aerovane.config.schema import parse_executor

    assert parse_executor(raw) == executor


def test_an_unknown_executor_is_one_clear_line() -> None:
    from aerovane.config.schema import InvalidValue, parse_executor

    with pytest.raises(InvalidValue, match="LocalExecutor or CeleryExecutor"):
        parse_executor("KubernetesExecutor")


def test_the_result_backend_defaults_to_the_broker_or_rpc_for_amqp() -> None:
    from aerovane.executors.celery.app import result_backend_for

    assert result_backend_for("redis://h:6379/1", "") == "redis://h:6379/1"
    assert result_backend_for("amqp://u:p@h//", "") == "rpc://"
    assert result_backend_for("amqp://u:p@h//", "redis://h/2") == "redis://h/2"


KEY = TaskKey("d", "t", "r", -1, 1)


def test_only_the_process_that_claimed_the_attempt_is_judged_dead() -> None:
    from aerovane.scheduler.job import _held_the_claim

    duplicate = ProcessEnded(KEY, 0, hostname="w1", pid=11)
    assert not _held_the_claim(duplicate, "running", "w2", 22)  # the attempt runs elsewhere
    assert not _held_the_claim(duplicate, "queued", "", None)  # nobody claimed it yet
    assert _held_the_claim(ProcessEnded(KEY, -9, hostname="w2", pid=22), "running", "w2", 22)
    assert _held_the_claim(ProcessEnded(KEY, -9), "queued", "", None)  # local: one per key


def test_a_celery_executor_vouches_for_no_attempt(db: Path) -> None:
    """Its `running` holds attempts sent to workers that may be lost: the scheduler's dead-task
    checks (heartbeat, pid on this host) must not spare them, as they do the local executor's."""
    from aerovane.executors.celery.executor import CeleryExecutor
    from aerovane.scheduler.job import Scheduler
    from aerovane.scheduler.wakeup import Wakeup

    executor = CeleryExecutor(parallelism=4)
    executor._keys.add(KEY)
    wakeup = Wakeup()
    try:
        scheduler = Scheduler(executor, wakeup=wakeup)
        assert executor.running == {KEY}
        assert scheduler._spared() == set()
    finally:
        wakeup.close()


def test_celery_stop_without_a_worker_is_one_line(aerovane_home: Path) -> None:
    from click.testing import CliRunner

    from aerovane.cli import _register, cli

    _register()
    result = CliRunner().invoke(cli, ["celery", "stop"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no worker PID in {aerovane_home / 'aerovane-worker.pid'}; is a worker running?"
    ]


def test_a_log_not_on_this_host_is_read_from_the_remote_folder(
    aerovane_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.config import reload_settings
    from aerovane.services.task_logs import fetch_remote, log_path

    remote = tmp_path / "shared-logs"
    monkeypatch.setenv("AEROVANE__LOGGING__REMOTE_LOGGING", "True")
    monkeypatch.setenv("AEROVANE__LOGGING__REMOTE_BASE_LOG_FOLDER", str(remote))
    reload_settings()
    path = log_path("d", "r", "t", 1)
    assert fetch_remote(path, None) is None
    copy = remote / "dag_id=d" / "run_id=r" / "task_id=t" / "attempt=1.log"
    copy.parent.mkdir(parents=True)
    copy.write_text("from the worker\n")
    assert fetch_remote(path, None) == b"from the worker\n"
