"""Input that would poison stored data (issue 14): non-standard JSON, deep nesting and oversized
bodies are refused before anything is written; a 500 leaves no run behind; rows stored before
these checks existed do not take listings down."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from aerovane.api.v1 import dag_runs as dag_runs_route
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.datasets import ensure_datasets, register_event
from tests.api.conftest import add_dag, add_run
from tests.api.test_errors import assert_problem

JSON = {"content-type": "application/json"}
URI = "s3://bucket/raw"
TRIGGER = "/dags/etl/dagRuns"


@pytest.fixture
def dag(accounts: Any) -> str:
    add_dag("etl")
    return "etl"


@pytest.fixture
def user(accounts: Any) -> httpx.BasicAuth:
    return httpx.BasicAuth(*accounts["User"].auth)


def _run_count() -> int:
    with create_session(readonly=True) as session:
        return session.scalar(select(func.count()).select_from(models.DagRun)) or 0


def _event_count() -> int:
    with create_session(readonly=True) as session:
        return session.scalar(select(func.count()).select_from(models.DatasetEvent)) or 0


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- strict JSON ------------------------------------------------------------------------------

NOT_JSON = {
    "NaN": '{"conf": {"x": NaN}}',
    "Infinity": '{"conf": {"x": Infinity}}',
    "-Infinity": '{"conf": {"x": [1, -Infinity]}}',
    "overflow": '{"conf": {"x": 1e999}}',
    "lone surrogate": '{"conf": {"x": "\\ud800"}}',
    "lone surrogate key": '{"conf": {"\\udc00": 1}}',
    "lone surrogate run id": '{"dag_run_id": "run\\ud800"}',
    "nesting": '{"conf": {"x": ' + _nested(900) + "}}",
    "conf string with NaN": '{"conf": "{\\"x\\": NaN}"}',
}


@pytest.mark.parametrize("body", NOT_JSON.values(), ids=list(NOT_JSON))
def test_trigger_refuses_non_standard_json_and_stores_nothing(
    client: httpx.Client, user: httpx.BasicAuth, dag: str, body: str
) -> None:
    problem = assert_problem(client.post(TRIGGER, content=body, headers=JSON, auth=user), 400)
    assert "JSON" in problem["detail"] or "conf" in problem["detail"]
    assert _run_count() == 0
    for url in ("/dags/~/dagRuns", "/dags/etl/dagRuns"):
        assert client.get(url, auth=user).json()["total_entries"] == 0


def test_the_problem_is_named(client: httpx.Client, user: httpx.BasicAuth, dag: str) -> None:
    def detail(body: str, headers: dict[str, str] = JSON) -> str:
        response = client.post(TRIGGER, content=body, headers=headers, auth=user)
        return str(assert_problem(response, 400)["detail"])

    assert "NaN is not valid JSON" in detail(NOT_JSON["NaN"])
    assert "lone surrogate" in detail(NOT_JSON["lone surrogate"])
    assert "nested deeper than 64 levels" in detail(NOT_JSON["nesting"])
    # FastAPI parses a body without a content type, or with a +json one, as JSON too.
    assert "NaN" in detail(NOT_JSON["NaN"], {})
    assert "NaN" in detail(NOT_JSON["NaN"], {"content-type": "application/merge-patch+json"})


def test_nesting_up_to_the_limit_is_accepted(
    client: httpx.Client, user: httpx.BasicAuth, dag: str, configure: Callable[..., None]
) -> None:
    configure(api__maximum_json_nesting_depth="5")
    deep_ok = '{"conf": {"x": [[1]]}}'  # body, conf, x's array, its array: 4 levels
    response = client.post(TRIGGER, content=deep_ok, headers=JSON, auth=user)
    assert response.status_code == 200, response.text
    assert response.json()["conf"] == {"x": [[1]]}
    too_deep = '{"conf": {"x": [[[[1]]]]}}'
    assert_problem(client.post(TRIGGER, content=too_deep, headers=JSON, auth=user), 400)
    assert _run_count() == 1


def test_valid_escapes_and_numbers_still_work(
    client: httpx.Client, user: httpx.BasicAuth, dag: str
) -> None:
    body = '{"conf": {"emoji": "\\ud83d\\ude00", "big": 1e308, "nul": "\\u0000x"}}'
    response = client.post(TRIGGER, content=body, headers=JSON, auth=user)
    assert response.status_code == 200, response.text
    assert response.json()["conf"] == {"emoji": "😀", "big": 1e308, "nul": "\x00x"}


@pytest.mark.parametrize(
    "path",
    ["/dags/etl/dagRuns", "/dags/~/dagRuns/list", "/variables", "/connections"],
)
def test_a_900_level_nested_array_is_400_everywhere(
    client: httpx.Client, admin: httpx.BasicAuth, dag: str, path: str
) -> None:
    """The issue's 900-level nested array answered 500: as a whole body, on any route."""
    response = client.post(path, content=_nested(900), headers=JSON, auth=admin)
    assert "nested deeper than 64 levels" in assert_problem(response, 400)["detail"]
    assert _run_count() == 0


@pytest.mark.parametrize(
    "extra",
    ['{"x": NaN}', '{"x": "\\udfff"}', '{"x": ' + _nested(900) + "}"],
    ids=["NaN", "lone surrogate", "nesting"],
)
def test_dataset_event_refuses_non_standard_extra(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any, extra: str
) -> None:
    with create_session() as session:
        ensure_datasets([URI], session=session)
    body = '{"dataset_uri": "' + URI + '", "extra": ' + extra + "}"
    assert_problem(client.post("/datasets/events", content=body, headers=JSON, auth=admin), 400)
    assert _event_count() == 0
    assert client.get("/datasets/events", auth=admin).status_code == 200


def test_experimental_trigger_is_strict_whatever_the_content_type(
    base_url: str, admin: httpx.BasicAuth, dag: str, configure: Callable[..., None]
) -> None:
    configure(api__enable_experimental_api="True", api__auth_backends="basic_auth")
    url = f"{base_url}/api/experimental/dags/etl/dag_runs"
    body = '{"conf": {"x": NaN}}'
    response = httpx.post(url, content=body, headers={"content-type": "text/plain"}, auth=admin)
    assert response.status_code == 400, response.text
    assert "NaN" in response.json()["error"]
    assert _run_count() == 0


def test_run_ids_up_to_airflows_250_characters(
    client: httpx.Client, user: httpx.BasicAuth, dag: str
) -> None:
    longest = "r" * 250
    response = client.post(TRIGGER, json={"dag_run_id": longest}, auth=user)
    assert response.status_code == 200, response.text
    assert response.json()["dag_run_id"] == longest
    problem = assert_problem(client.post(TRIGGER, json={"dag_run_id": "r" * 251}, auth=user), 400)
    assert "longer than 250 characters" in problem["detail"]
    assert _run_count() == 1
    with create_session(readonly=True) as session:
        audited = session.scalars(
            select(models.EventLog.run_id).where(models.EventLog.event == "api.post_dag_run")
        ).all()
    assert sorted(audited) == [longest, longest]  # the refused one too, cut to its column


# -- body size --------------------------------------------------------------------------------


@pytest.fixture
def small_limit(configure: Callable[..., None]) -> int:
    configure(api__maximum_request_body_size="2000")
    return 2000


def _conf_body(size: int) -> bytes:
    body = json.dumps({"conf": {"pad": ""}}).encode()
    return json.dumps({"conf": {"pad": "x" * (size - len(body))}}).encode()


def test_body_over_the_limit_gets_413_and_stores_nothing(
    client: httpx.Client, user: httpx.BasicAuth, dag: str, small_limit: int
) -> None:
    assert len(_conf_body(small_limit + 1)) == small_limit + 1
    response = client.post(TRIGGER, content=_conf_body(small_limit + 1), headers=JSON, auth=user)
    problem = assert_problem(response, 413, title="Content Too Large")
    assert "2000 bytes" in problem["detail"]
    assert _run_count() == 0
    at_limit = client.post(TRIGGER, content=_conf_body(small_limit), headers=JSON, auth=user)
    assert at_limit.status_code == 200, at_limit.text
    assert _run_count() == 1


def test_chunked_body_over_the_limit_gets_413(
    client: httpx.Client, user: httpx.BasicAuth, dag: str, small_limit: int
) -> None:
    def chunks(body: bytes) -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    big = _conf_body(small_limit * 3)
    response = client.post(TRIGGER, content=chunks(big), headers=JSON, auth=user)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert _run_count() == 0
    small = client.post(TRIGGER, content=chunks(_conf_body(500)), headers=JSON, auth=user)
    assert small.status_code == 200, small.text


def test_default_limit_refuses_a_huge_conf(
    client: httpx.Client, user: httpx.BasicAuth, dag: str
) -> None:
    huge = _conf_body(6 * 1024 * 1024)
    assert_problem(client.post(TRIGGER, content=huge, headers=JSON, auth=user), 413)
    assert _run_count() == 0


def test_a_100_mb_body_is_refused_before_it_is_read(base_url: str, accounts: Any, dag: str) -> None:
    """The issue's 100 MB conf: 413 as soon as the headers say how large the body is; the
    server answers without waiting for (or reading) the rest, and stores nothing."""
    url = httpx.URL(base_url)
    credentials = base64.b64encode(":".join(accounts["User"].auth).encode()).decode()
    head = (
        f"POST /api/v1{TRIGGER} HTTP/1.1\r\n"
        f"Host: {url.host}:{url.port}\r\n"
        f"Authorization: Basic {credentials}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=120) as sock:
        sock.sendall(head.encode() + b'{"conf": {"pad": "' + b"x" * 65536)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:500]
    assert b"application/problem+json" in answer.split(b"\r\n\r\n", 1)[0].lower()
    assert _run_count() == 0


def test_control_plane_answers_in_its_own_error_shape(
    base_url: str, admin: httpx.BasicAuth, db: Any
) -> None:
    url = f"{base_url}/v1/projects/p/locations/l/environments"
    response = httpx.post(url, content='{"name": NaN}', headers=JSON, auth=admin)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400
    assert "NaN" in response.json()["error"]["message"]


def test_bodies_that_are_no_json_reach_their_routes(
    base_url: str, client: httpx.Client, user: httpx.BasicAuth, dag: str
) -> None:
    """Only JSON that Python would read but RFC 8259 refuses is stopped early: anything else is
    refused by its route, in that API's own shape, as before."""
    token = httpx.post(f"{base_url}/token", content=b"grant_type=password")  # no content type
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_request"
    malformed = client.post(TRIGGER, content=b"{not json", headers=JSON, auth=user)
    assert "JSON decode error" in assert_problem(malformed, 400)["detail"]


# -- no committed write behind a 500 -------------------------------------------------------------


def test_a_trigger_that_fails_after_its_insert_leaves_no_run(
    client: httpx.Client, user: httpx.BasicAuth, dag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(run: Any) -> dict[str, Any]:
        raise RuntimeError("the response cannot be built")

    monkeypatch.setattr(dag_runs_route, "dag_run_to_dict", broken)
    response = client.post(TRIGGER, json={"dag_run_id": "doomed"}, auth=user)
    assert_problem(response, 500)
    monkeypatch.undo()
    assert _run_count() == 0
    assert client.get("/dags/etl/dagRuns/doomed", auth=user).status_code == 404
    retry = client.post(TRIGGER, json={"dag_run_id": "doomed"}, auth=user)
    assert retry.status_code == 200, retry.text


# -- rows stored before these checks -------------------------------------------------------------


def _poisons() -> dict[str, str]:
    """JSON texts this database stores that Python's encoder cannot send back."""
    from aerovane.db.engine import get_engine

    poisons = {
        "lone surrogate": '{"x": "\\ud800", "\\udc00": 1}',
        "deep": '{"x": ' + _nested(990) + "}",
        "deeper than Python parses": '{"x": ' + _nested(5000) + "}",
    }
    if get_engine().dialect.name == "sqlite":  # PostgreSQL's json type refuses these
        poisons.update(
            {
                "NaN": '{"x": NaN, "y": [Infinity, -Infinity]}',
                "not JSON": "{'x': 1",
            }
        )
    return poisons


def _store_raw(table: str, column: str, value: str) -> None:
    with create_session() as session:
        cast = "CAST(:v AS json)" if session.get_bind().dialect.name == "postgresql" else ":v"
        session.execute(text(f"UPDATE {table} SET {column} = {cast}"), {"v": value})


T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def test_listings_survive_a_poisoned_run(
    client: httpx.Client, user: httpx.BasicAuth, dag: str
) -> None:
    for name, poison in _poisons().items():
        with create_session() as session:
            session.execute(models.DagRun.__table__.delete())
        add_run("etl", "bad", logical_date=T0)
        _store_raw("dag_run", "conf", poison)
        add_run("etl", "good", logical_date=T0 + dt.timedelta(days=1), conf={"ok": 1})
        for response in (
            client.get("/dags/~/dagRuns", auth=user),
            client.get("/dags/etl/dagRuns", auth=user),
            client.post("/dags/~/dagRuns/list", json={}, auth=user),
        ):
            assert response.status_code == 200, (name, response.text)
            runs = {run["dag_run_id"]: run for run in response.json()["dag_runs"]}
            assert set(runs) == {"bad", "good"}, name
            assert runs["good"]["conf"] == {"ok": 1}
        for run_id in ("bad", "good"):
            response = client.get(f"/dags/etl/dagRuns/{run_id}", auth=user)
            assert response.status_code == 200, (name, response.text)


def test_dataset_event_listing_survives_a_poisoned_extra(
    client: httpx.Client, admin: httpx.BasicAuth, accounts: Any
) -> None:
    for name, poison in _poisons().items():
        with create_session() as session:
            session.execute(models.DatasetEvent.__table__.delete())
            dataset = ensure_datasets([URI], session=session)[URI]
            register_event(dataset, extra={"ok": 1}, session=session)
            dataset_id = dataset.id
        _store_raw("dataset_event", "extra", poison)
        with create_session() as session:
            dataset = session.get(models.DatasetModel, dataset_id)
            register_event(dataset, extra={}, session=session)
        response = client.get("/datasets/events", auth=admin)
        assert response.status_code == 200, (name, response.text)
        assert response.json()["total_entries"] == 2
