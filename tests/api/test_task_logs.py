"""`.../logs/{task_try_number}`: JSON fragments with signed continuation tokens, full content,
plain text, and the 400/404 cases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from aerovane.api import signing
from aerovane.api.v1 import task_logs
from aerovane.api.v1.datamodels.task_instances import TaskLogResponse
from aerovane.services.task_logs import log_path
from tests.api.conftest import add_dag, add_run, update_ti
from tests.api.test_errors import assert_problem

URL = "/dags/etl/dagRuns/run_1/taskInstances/extract/logs"
JSON = {"accept": "application/json"}


@pytest.fixture
def log_file(accounts: Any) -> Path:
    add_dag("etl")
    add_run("etl", "run_1", logical_date=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    update_ti("etl", "run_1", "extract", try_number=2, state="running")
    first = log_path("etl", "run_1", "extract", 1)
    first.parent.mkdir(parents=True, exist_ok=True)
    first.write_text("try one\n", encoding="utf-8")
    path = log_path("etl", "run_1", "extract", 2)
    path.write_text("line 1\nline 2\n", encoding="utf-8")
    return path


def test_json_log_and_continuation(
    client: httpx.Client, admin: httpx.BasicAuth, log_file: Path
) -> None:
    response = client.get(f"{URL}/2", headers=JSON, auth=admin)
    assert response.status_code == 200, response.text
    body = TaskLogResponse.model_validate(response.json())
    assert body.content == "line 1\nline 2\n"
    token = signing.loads(body.continuation_token, salt=signing.LOG_TOKEN_SALT)
    assert token["offset"] == len(b"line 1\nline 2\n")
    assert token["end_of_log"] is False  # the attempt is still running

    with log_file.open("a", encoding="utf-8") as fh:
        fh.write("line 3 — ünïcode\n")
    response = client.get(
        f"{URL}/2", params={"token": body.continuation_token}, headers=JSON, auth=admin
    )
    assert response.json()["content"] == "line 3 — ünïcode\n"
    response = client.get(
        f"{URL}/2",
        params={"token": response.json()["continuation_token"]},
        headers=JSON,
        auth=admin,
    )
    assert response.json()["content"] == ""


def test_earlier_try_is_complete(
    client: httpx.Client, admin: httpx.BasicAuth, log_file: Path
) -> None:
    response = client.get(f"{URL}/1", headers=JSON, auth=admin)
    assert response.json()["content"] == "try one\n"
    token = signing.loads(response.json()["continuation_token"], salt=signing.LOG_TOKEN_SALT)
    assert token["end_of_log"] is True


def test_fragments_end_on_character_boundaries(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    log_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "ééééé"  # two bytes each
    log_file.write_text(text, encoding="utf-8")
    monkeypatch.setattr(task_logs, "LOG_FRAGMENT_BYTES", 3)
    parts, token = [], None
    for _ in range(10):
        params = {"token": token} if token else {}
        body = client.get(f"{URL}/2", params=params, headers=JSON, auth=admin).json()
        if not body["content"]:
            break
        parts.append(body["content"])
        token = body["continuation_token"]
    assert parts == ["é"] * 5
    full = client.get(f"{URL}/2", params={"full_content": "true"}, headers=JSON, auth=admin)
    assert full.json()["content"] == text


def test_full_content_sticks_to_the_token(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    log_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(task_logs, "LOG_FRAGMENT_BYTES", 4)
    first = client.get(f"{URL}/2", params={"full_content": "true"}, headers=JSON, auth=admin)
    assert first.json()["content"] == "line 1\nline 2\n"
    token = first.json()["continuation_token"]
    assert signing.loads(token, salt=signing.LOG_TOKEN_SALT)["download_logs"] is True


def test_plain_text(client: httpx.Client, admin: httpx.BasicAuth, log_file: Path) -> None:
    response = client.get(f"{URL}/2", headers={"accept": "text/plain"}, auth=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    assert response.text == "line 1\nline 2\n"
    # Like werkzeug's negotiation in Airflow: `*/*` prefers text, no header means JSON.
    assert client.get(f"{URL}/2", headers={"accept": "*/*"}, auth=admin).text.startswith("line")
    preferred_json = {"accept": "text/plain;q=0.5, application/json"}
    assert "content" in client.get(f"{URL}/2", headers=preferred_json, auth=admin).json()


def test_best_match() -> None:
    assert task_logs.best_match(None) is None
    assert task_logs.best_match("") is None
    assert task_logs.best_match("*/*") == "text/plain"
    assert task_logs.best_match("application/json") == "application/json"
    assert task_logs.best_match("application/*") == "application/json"
    assert task_logs.best_match("text/plain;q=0.1, application/json;q=0.9") == "application/json"
    assert task_logs.best_match("text/html") is None


def test_bad_token(client: httpx.Client, admin: httpx.BasicAuth, log_file: Path) -> None:
    message = "Bad Signature. Please use only the tokens provided by the API."
    for token in ("garbage", signing.dumps({"offset": 0}, salt="other"), "a.b.c"):
        assert_problem(
            client.get(f"{URL}/2", params={"token": token}, headers=JSON, auth=admin),
            400,
            title=message,
        )
    forged = signing.dumps({"offset": -4}, salt=signing.LOG_TOKEN_SALT)
    assert_problem(client.get(f"{URL}/2", params={"token": forged}, auth=admin), 400)


def test_not_found(client: httpx.Client, admin: httpx.BasicAuth, log_file: Path) -> None:
    assert_problem(client.get(f"{URL}/3", headers=JSON, auth=admin), 404)
    assert_problem(client.get(f"{URL}/0", headers=JSON, auth=admin), 404)
    assert_problem(
        client.get("/dags/etl/dagRuns/run_1/taskInstances/nope/logs/1", headers=JSON, auth=admin),
        404,
        title="TaskInstance not found",
    )
    assert_problem(client.get(f"{URL}/1", params={"map_index": 3}, headers=JSON, auth=admin), 404)
    assert_problem(client.get(f"{URL}/one", headers=JSON, auth=admin), 400)


def test_missing_file_is_empty(
    client: httpx.Client, admin: httpx.BasicAuth, log_file: Path
) -> None:
    log_file.unlink()
    response = client.get(f"{URL}/2", headers=JSON, auth=admin)
    assert response.status_code == 200
    assert response.json()["content"] == ""


def test_log_of_a_run_id_of_the_longest_length_airflow_accepts(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any
) -> None:
    run_id = "manual__" + "r" * 242  # `run_id=` and this is longer than a file name may be
    add_dag("etl")
    add_run("etl", run_id, logical_date=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    update_ti("etl", run_id, "extract", try_number=1, state="success")
    path = log_path("etl", run_id, "extract", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("from a long run id\n", encoding="utf-8")
    url = f"/dags/etl/dagRuns/{run_id}/taskInstances/extract/logs/1"
    response = client.get(url, headers=JSON, auth=admin)
    assert response.status_code == 200, response.text
    assert TaskLogResponse.model_validate(response.json()).content == "from a long run id\n"
