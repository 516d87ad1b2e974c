"""Request ids from proxy to API to audit log, with real servers: the proxy's id replaces any
the client sent, the API keeps a well-formed one (a correlation label) and replaces a malformed
one, and the id is in the response, on the JSON log lines of both servers and in the audit row's
`extra`; a 500's correlation id is the request's id."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from aerovane.db.engine import create_session
from tests.api.conftest import set_config
from tests.logs.conftest import LogBuffer
from tests.proxy.conftest import Account, bearer, id_token_for, serve

OWN_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log(component_log: Callable[[], LogBuffer], monkeypatch: pytest.MonkeyPatch) -> LogBuffer:
    set_config(monkeypatch, logging__json_format="True", logging__access_log="True")
    return component_log()


@contextlib.contextmanager
def api_and_proxy() -> Iterator[tuple[str, str]]:
    """An API server and a proxy in front of it over HTTP (`aerovane api-server` + `proxy`)."""
    from aerovane.api.app import create_app
    from aerovane.proxy import create_proxy_app

    with serve(create_app()) as api, serve(create_proxy_app(api)) as proxy:
        yield api, proxy


@contextlib.contextmanager
def table_away(name: str) -> Iterator[None]:
    """`name` renamed away for the block (and back, so a shared PostgreSQL database is whole)."""
    with create_session() as session:
        session.execute(text(f"ALTER TABLE {name} RENAME TO {name}_away"))
    try:
        yield
    finally:
        with create_session() as session:
            session.execute(text(f"ALTER TABLE {name}_away RENAME TO {name}"))


def _audit_extra(api: str, admin: httpx.BasicAuth, event: str) -> dict[str, Any]:
    response = httpx.get(f"{api}/api/v1/eventLogs", params={"event": event}, auth=admin)
    assert response.status_code == 200, response.text
    (row,) = response.json()["event_logs"]
    return json.loads(row["extra"])


def test_the_proxys_id_reaches_the_response_both_logs_and_the_audit_row(
    json_log: LogBuffer, account: Account, admin: httpx.BasicAuth
) -> None:
    with api_and_proxy() as (api, proxy):
        token = id_token_for(proxy, account)
        forged = "0123456789abcdef0123456789abcdef"  # another request's id, say
        created = httpx.post(
            f"{proxy}/api/v1/variables",
            headers={**bearer(token), "X-Request-Id": forged},
            json={"key": "k", "value": "v"},
        )
        assert created.status_code == 200, created.text
        ids = created.headers.get_list("x-request-id")
        assert len(ids) == 1 and OWN_ID.fullmatch(ids[0]) and ids[0] != forged
        request_id = ids[0]
        api_line = json_log.wait_for(
            lambda line: (
                line["logger"] == "aerovane.api.access" and line.get("request_id") == request_id
            )
        )
        assert api_line["message"].startswith("POST /api/v1/variables 200 ")
        assert api_line["level"] == "INFO"
        proxy_line = json_log.wait_for(
            lambda line: (
                line["logger"] == "aerovane.proxy.access" and line.get("request_id") == request_id
            )
        )
        assert proxy_line["message"].startswith("POST /api/v1/variables 200 ")
        assert not [line for line in json_log.json_lines() if line.get("request_id") == forged]
        assert _audit_extra(api, admin, "api.variable.create") == {
            "key": "k",
            "value": "v",
            "request_id": request_id,
        }
        # The proxy's own answers have an id too.
        refused = httpx.get(
            f"{proxy}/api/v1/dags", headers={"X-Request-Id": forged, "Accept": "application/json"}
        )
        assert refused.status_code == 401
        assert OWN_ID.fullmatch(refused.headers["x-request-id"])


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        (["client-label:42.a_b"], True),
        (["x" * 128], True),
        (["x" * 129], False),
        (["has space"], False),
        (["a/b"], False),
        (['"quoted"'], False),
        (["one", "two"], False),
        ([""], False),
    ],
)
def test_the_api_reached_directly_keeps_only_a_well_formed_label(
    json_log: LogBuffer, admin: httpx.BasicAuth, sent: list[str], kept: bool
) -> None:
    from aerovane.api.app import create_app

    with serve(create_app()) as api:
        headers = [("X-Request-Id", value) for value in sent]
        response = httpx.get(f"{api}/api/v1/dags/etl", headers=headers, auth=admin)
    assert response.status_code == 404  # refused ids are replaced, never a 400
    (request_id,) = response.headers.get_list("x-request-id")
    assert request_id == sent[0] if kept else OWN_ID.fullmatch(request_id)
    line = json_log.wait_for(lambda line: line.get("request_id") == request_id)
    assert line["logger"] == "aerovane.api.access" and line["dag_id"] == "etl"
    assert line["message"].startswith("GET /api/v1/dags/etl 404 ")


def test_a_500s_correlation_id_is_the_request_id(
    json_log: LogBuffer, admin: httpx.BasicAuth
) -> None:
    from aerovane.api.app import create_app

    with serve(create_app()) as api, table_away("slot_pool"):  # a real database failure
        response = httpx.get(f"{api}/api/v1/pools", auth=admin)
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert f"correlation id {request_id} " in response.json()["detail"]
    line = json_log.wait_for(
        lambda line: line["level"] == "ERROR" and line.get("request_id") == request_id
    )
    assert f"[correlation id {request_id}]" in line["message"]
    assert "slot_pool" in line["exception"]


def test_a_text_access_line_cannot_be_split_by_the_path(
    component_log: Callable[[], LogBuffer], monkeypatch: pytest.MonkeyPatch, admin: httpx.BasicAuth
) -> None:
    from aerovane.api.app import create_app

    set_config(monkeypatch, logging__access_log="True")
    out = component_log()
    with serve(create_app()) as api:
        response = httpx.get(f"{api}/api/v1/dags/x%0A2024 ERROR forged", auth=admin)
    assert response.status_code == 404
    deadline = time.monotonic() + 120
    while not (lines := [line for line in out.lines() if "aerovane.api.access" in line]):
        assert time.monotonic() < deadline, out.lines()
        time.sleep(0.02)
    (line,) = lines
    assert " GET /api/v1/dags/x%0A2024%20ERROR%20forged 404 " in line
    assert not [line for line in out.lines() if line.startswith("2024 ERROR")]


def test_a_trusted_load_balancers_id_is_kept_through_proxy_and_api(
    json_log: LogBuffer, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a load balancer listed in `[proxy] trusted_proxies` (here: this test, on
    loopback), the balancer's well-formed id is the request's id all the way; a malformed one
    is replaced by the proxy's own."""
    set_config(monkeypatch, proxy__trusted_proxies="127.0.0.1/32")
    with api_and_proxy() as (_api, proxy):
        headers = bearer(id_token_for(proxy, account))
        kept = httpx.get(
            f"{proxy}/api/v1/dags", headers={**headers, "X-Request-Id": "lb-7f3a:0001"}
        )
        assert kept.status_code == 200, kept.text
        assert kept.headers.get_list("x-request-id") == ["lb-7f3a:0001"]
        api_line = json_log.wait_for(
            lambda line: (
                line["logger"] == "aerovane.api.access" and line.get("request_id") == "lb-7f3a:0001"
            )
        )
        assert api_line["message"].startswith("GET /api/v1/dags 200 ")
        replaced = httpx.get(f"{proxy}/api/v1/dags", headers={**headers, "X-Request-Id": "a b"})
        assert replaced.status_code == 200
        assert OWN_ID.fullmatch(replaced.headers["x-request-id"])
