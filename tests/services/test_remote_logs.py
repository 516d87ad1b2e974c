"""The remote log store over real fsspec filesystems: `file://` and FTP (a pyftpdlib server in a
process of its own), credentials in the URL or in a Connection, never in a message."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aerovane.config import ConfigError, reload_settings
from tests.ftp_server import ftp_server

PASSWORD = "ftp-secret-pw"
RELATIVE = "dag_id=d/run_id=r/task_id=t/attempt=1.log"


@pytest.fixture
def ftp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    root = tmp_path / "ftp-root"
    with ftp_server(root, "logs", PASSWORD) as port:
        yield port, root


def _remote(monkeypatch: pytest.MonkeyPatch, location: str, conn_id: str = "") -> None:
    monkeypatch.setenv("AEROVANE__LOGGING__REMOTE_LOGGING", "True")
    monkeypatch.setenv("AEROVANE__LOGGING__REMOTE_BASE_LOG_FOLDER", location)
    monkeypatch.setenv("AEROVANE__LOGGING__REMOTE_LOG_CONN_ID", conn_id)
    reload_settings()


def _local_log(text: str) -> Path:
    from aerovane.services.task_logs import log_path

    path = log_path("d", "r", "t", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_file_url_round_trip(
    aerovane_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.services import remote_logs
    from aerovane.services.task_logs import fetch_remote

    _remote(monkeypatch, f"file://{tmp_path}/shared")
    remote_logs.check()
    path = _local_log("through file://\n")
    assert fetch_remote(path, None) is None  # not copied yet
    assert remote_logs.upload(path, RELATIVE)
    assert (tmp_path / "shared" / RELATIVE).read_text() == "through file://\n"
    assert len(list((tmp_path / "shared" / RELATIVE).parent.iterdir())) == 1  # no leftover
    assert fetch_remote(path, None) == b"through file://\n"
    # A running attempt is not looked for in the store (it is copied when it ends).
    assert fetch_remote(path, None, attempt_over=False) is None


def test_credentials_in_the_url_reach_the_ftp_server_and_no_message(
    aerovane_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    ftp: tuple[int, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aerovane.services import remote_logs
    from aerovane.services.task_logs import fetch_remote

    port, root = ftp
    _remote(monkeypatch, f"ftp://logs:{PASSWORD}@127.0.0.1:{port}/task-logs")
    path = _local_log("line one\nline two ✓\n")
    assert remote_logs.upload(path, RELATIVE)
    assert (root / "task-logs" / RELATIVE).read_bytes() == path.read_bytes()
    assert fetch_remote(path, None) == path.read_bytes()
    path.write_text("copied again\n")  # a second copy replaces the first, whole
    assert remote_logs.upload(path, RELATIVE)
    assert fetch_remote(path, None) == b"copied again\n"
    assert [p.name for p in (root / "task-logs" / RELATIVE).parent.iterdir()] == ["attempt=1.log"]

    _remote(monkeypatch, f"ftp://logs:wrong-{PASSWORD}@127.0.0.1:{port}/task-logs")
    with caplog.at_level(logging.WARNING):
        assert not remote_logs.upload(path, RELATIVE)
        assert fetch_remote(path, None) is None
    assert caplog.records and PASSWORD not in caplog.text
    assert f"ftp://***@127.0.0.1:{port}/task-logs" in caplog.text


def test_a_connection_fills_in_the_ftp_credentials(
    db: Path, monkeypatch: pytest.MonkeyPatch, ftp: tuple[int, Path]
) -> None:
    from aerovane.db.engine import create_session
    from aerovane.services import remote_logs
    from aerovane.services.connections import create_connection

    port, root = ftp
    with create_session() as session:
        values = {"conn_type": "ftp", "host": "127.0.0.1", "port": port, "login": "logs"}
        create_connection("ftp_logs", {**values, "password": PASSWORD}, session=session)
    _remote(monkeypatch, "ftp://127.0.0.1/by-connection", conn_id="ftp_logs")
    path = _local_log("via a connection\n")
    assert remote_logs.upload(path, RELATIVE)
    assert (root / "by-connection" / RELATIVE).read_text() == "via a connection\n"
    assert remote_logs.configured().read(RELATIVE) == b"via a connection\n"  # type: ignore[union-attr]
    assert remote_logs.configured().read("dag_id=d/not-copied.log") is None  # type: ignore[union-attr]
    assert PASSWORD not in repr(remote_logs.configured())


def test_a_scheme_without_its_implementation_is_one_line(
    aerovane_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.services import remote_logs

    _remote(monkeypatch, "s3://AKIDEXAMPLE:aws-secret-key@bucket/logs?token=aws-session")
    with pytest.raises(ConfigError) as caught:
        remote_logs.check()
    message = str(caught.value)
    assert message == (
        "[logging] remote_base_log_folder = s3://***@bucket/logs?***: Install s3fs to access S3"
    )
    from aerovane.api.app import create_app

    with pytest.raises(ConfigError, match=r"Install s3fs to access S3$"):
        create_app()  # the API server, the store's reader, refuses to start the same way
    _remote(monkeypatch, "nosuchfs://bucket/logs")
    with pytest.raises(ConfigError, match=r"fsspec knows no 'nosuchfs'$"):
        remote_logs.check()


def test_the_worker_refuses_to_start_with_one_line(aerovane_home: Path) -> None:
    """`aerovane celery worker` with an S3 URL and no s3fs: one line on stderr, no password."""
    import os

    env = {
        **os.environ,
        "AEROVANE__LOGGING__REMOTE_LOGGING": "True",
        "AEROVANE__LOGGING__REMOTE_BASE_LOG_FOLDER": "s3://key:aws-secret-key@bucket/logs",
        "AEROVANE__CORE__EXECUTOR": "CeleryExecutor",
    }
    done = subprocess.run(
        [sys.executable, "-m", "aerovane", "celery", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: [logging] remote_base_log_folder = s3://***@bucket/logs: Install s3fs to access S3"
    ]


def test_attempts_ending_together_all_reach_the_ftp_server(
    aerovane_home: Path, monkeypatch: pytest.MonkeyPatch, ftp: tuple[int, Path]
) -> None:
    """The tasks of one run end together: each copy makes the run's folders on its own FTP
    connection, and none fails because another made them first."""
    from concurrent.futures import ThreadPoolExecutor

    from aerovane.services import remote_logs

    port, root = ftp
    _remote(monkeypatch, f"ftp://logs:{PASSWORD}@127.0.0.1:{port}/together")
    path = _local_log("ended\n")
    relatives = [f"dag_id=d/run_id=r/task_id=t{i}/attempt=1.log" for i in range(8)]
    with ThreadPoolExecutor(len(relatives)) as pool:
        copied = list(pool.map(lambda relative: remote_logs.upload(path, relative), relatives))
    assert copied == [True] * len(relatives)
    assert all((root / "together" / r).read_text() == "ended\n" for r in relatives)
