"""`/connections`: CRUD with write-only passwords, redacted extras and encryption at rest,
validation and conflicts, paging and ordering, audit rows, testing connections, and who may
call what."""

from __future__ import annotations

import functools
import http.server
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from aerovane.api.v1.datamodels.connections import (
    ConnectionCollectionResponse,
    ConnectionResponse,
    ConnectionTestResponse,
)
from aerovane.db import models
from aerovane.db.crypto import decrypt
from aerovane.db.engine import create_session
from tests.api.conftest import count_queries
from tests.api.test_errors import assert_problem
from tests.conftest import PG_URL

EXTRA = {
    "password": "p",
    "nested": {"api_key": "k", "x": 1},
    "host_token": 5,
    "list": [{"secret": "s"}, "plain"],
    "plain": "ok",
}
REDACTED = {
    "password": "***",
    "nested": {"api_key": "***", "x": 1},
    "host_token": "***",
    "list": [{"secret": "***"}, "plain"],
    "plain": "ok",
}
DISABLED = (
    "Testing connections is disabled in Airflow configuration. "
    "Contact your deployment admin to enable it."
)


def _create(client: httpx.Client, auth: Any, **fields: Any) -> httpx.Response:
    body = {"connection_id": "my_db", "conn_type": "postgres", **fields}
    return client.post("/connections", json=body, auth=auth)


def _row(conn_id: str) -> models.Connection:
    with create_session(readonly=True) as session:
        row = session.scalar(select(models.Connection).where(models.Connection.conn_id == conn_id))
        assert row is not None
        session.expunge(row)
        return row


# -- create, get -----------------------------------------------------------------------------------


def test_create_and_get(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = _create(
        client,
        admin,
        description="main database",
        host="db.example.com",
        login="etl",
        schema="warehouse",
        port=5432,
        password="hunter2",
        extra=json.dumps(EXTRA),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    ConnectionResponse.model_validate(body)
    assert body == {
        "connection_id": "my_db",
        "conn_type": "postgres",
        "description": "main database",
        "host": "db.example.com",
        "login": "etl",
        "schema": "warehouse",
        "port": 5432,
        "extra": json.dumps(REDACTED),
    }
    assert "hunter2" not in response.text
    got = client.get("/connections/my_db", auth=admin)
    assert got.status_code == 200
    assert got.json() == body


def test_secrets_are_encrypted_at_rest(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, password="hunter2", extra='{"token": "t"}').status_code == 200
    row = _row("my_db")
    assert row.is_encrypted and row.is_extra_encrypted
    assert "hunter2" not in (row.password or "")
    assert decrypt(row.password or "", True) == "hunter2"
    assert json.loads(decrypt(row.extra or "", True)) == {"token": "t"}


def test_minimal_connection_has_nulls(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = _create(client, admin).json()
    assert body == {
        "connection_id": "my_db",
        "conn_type": "postgres",
        "description": None,
        "host": None,
        "login": None,
        "schema": None,
        "port": None,
        "extra": None,
    }
    row = _row("my_db")
    assert row.password is None and row.extra is None


def test_extra_that_is_not_json_is_shown_as_stored(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    body = _create(client, admin, extra="-----BEGIN KEY-----").json()
    assert body["extra"] == "-----BEGIN KEY-----"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"conn_type": "http"}, "'connection_id'"),
        ({"connection_id": "x"}, "'conn_type'"),
        ({"connection_id": "x", "conn_type": "http", "port": "high"}, "'port'"),
        ({"connection_id": "x", "conn_type": "http", "colour": "red"}, "'colour'"),
        ({"connection_id": "x", "conn_type": 5}, "'conn_type'"),
        ({"connection_id": "bad id!", "conn_type": "http"}, "has to be made of alphanumeric"),
        ({"connection_id": "x/y", "conn_type": "http"}, "has to be made of alphanumeric"),
        ({"connection_id": "x" * 251, "conn_type": "http"}, "less than 250 characters"),
    ],
)
def test_create_rejects_bad_bodies(
    client: httpx.Client, admin: httpx.BasicAuth, payload: dict[str, Any], fragment: str
) -> None:
    body = assert_problem(client.post("/connections", json=payload, auth=admin), 400)
    assert fragment in body["detail"]


def test_create_accepts_airflow_key_characters(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
    conn_id = "a-b.c_D9" + "x" * 242
    assert _create(client, admin, connection_id=conn_id).status_code == 200
    assert client.get(f"/connections/{conn_id}", auth=admin).status_code == 200


def test_create_missing_body(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = assert_problem(client.post("/connections", auth=admin), 400)
    assert body["detail"] == "Request body must not be empty"


def test_create_duplicate_is_409(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin).status_code == 200
    assert_problem(
        _create(client, admin),
        409,
        title="Conflict",
        detail="Connection already exist. ID: my_db",
    )


def test_get_missing(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.get("/connections/nope", auth=admin),
        404,
        title="Connection not found",
        detail="The Connection with connection_id: `nope` was not found",
    )


# -- list ------------------------------------------------------------------------------------------


@pytest.fixture
def three(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    for conn_id, conn_type, port in (("b_conn", "http", 80), ("a_conn", "sqlite", None)):
        assert _create(client, admin, connection_id=conn_id, conn_type=conn_type, port=port)
    assert _create(client, admin, connection_id="c_conn", conn_type="aws", extra='{"x": 1}')


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [c["connection_id"] for c in response.json()["connections"]]


def test_list(client: httpx.Client, admin: httpx.BasicAuth, three: None) -> None:
    response = client.get("/connections", auth=admin)
    body = ConnectionCollectionResponse.model_validate(response.json())
    assert body.total_entries == 3
    assert _ids(response) == ["b_conn", "a_conn", "c_conn"]
    assert all("extra" not in c and "password" not in c for c in response.json()["connections"])


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("connection_id", ["a_conn", "b_conn", "c_conn"]),
        ("-connection_id", ["c_conn", "b_conn", "a_conn"]),
        ("conn_type", ["c_conn", "b_conn", "a_conn"]),
        ("-id", ["c_conn", "a_conn", "b_conn"]),
    ],
)
def test_list_order_by(
    client: httpx.Client, admin: httpx.BasicAuth, three: None, order_by: str, expected: list[str]
) -> None:
    assert _ids(client.get("/connections", params={"order_by": order_by}, auth=admin)) == expected


def test_list_bad_order_by(client: httpx.Client, admin: httpx.BasicAuth, three: None) -> None:
    assert_problem(
        client.get("/connections", params={"order_by": "password"}, auth=admin),
        400,
        detail=(
            "Ordering with 'password' is disallowed or the attribute does not exist on the model"
        ),
    )


def test_list_paging(client: httpx.Client, admin: httpx.BasicAuth, three: None) -> None:
    response = client.get("/connections", params={"limit": 1, "offset": 1}, auth=admin)
    assert _ids(response) == ["a_conn"]
    assert response.json()["total_entries"] == 3
    assert client.get("/connections", params={"offset": 5}, auth=admin).json() == {
        "connections": [],
        "total_entries": 3,
    }
    assert_problem(client.get("/connections", params={"limit": -1}, auth=admin), 400)
    assert_problem(client.get("/connections", params={"offset": -1}, auth=admin), 400)
    assert_problem(client.get("/connections", params={"colour": "red"}, auth=admin), 400)


def test_list_query_count(client: httpx.Client, admin: httpx.BasicAuth, three: None) -> None:
    with count_queries() as statements:
        _ids(client.get("/connections", params={"limit": 2}, auth=admin))
    # The page and a COUNT (the page is full); authentication reads the user once.
    assert len([s for s in statements if "connection" in s]) == 2


# -- update ----------------------------------------------------------------------------------------


def test_patch_everything(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, host="old", password="old-pw").status_code == 200
    response = client.patch(
        "/connections/my_db",
        json={
            "connection_id": "my_db",
            "conn_type": "http",
            "host": "new",
            "password": "new-pw",
            "extra": '{"secret": "s"}',
        },
        auth=admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["conn_type"], body["host"], body["extra"]) == ("http", "new", '{"secret": "***"}')
    row = _row("my_db")
    assert decrypt(row.password or "", row.is_encrypted) == "new-pw"


def test_patch_leaves_unsent_fields(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, host="h", login="l", password="pw").status_code == 200
    body = client.patch("/connections/my_db", json={"port": 1}, auth=admin).json()
    assert (body["host"], body["login"], body["port"]) == ("h", "l", 1)
    assert decrypt(_row("my_db").password or "", True) == "pw"
    body = client.patch("/connections/my_db", json={"host": None}, auth=admin).json()
    assert body["host"] is None


def test_patch_with_update_mask(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin, host="h", login="l").status_code == 200
    response = client.patch(
        "/connections/my_db",
        params={"update_mask": "login,schema"},
        json={"host": "ignored", "login": "new", "schema": "s"},
        auth=admin,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["host"], body["login"], body["schema"]) == ("h", "new", "s")


@pytest.mark.parametrize(
    ("params", "payload", "detail"),
    [
        ({}, {"connection_id": "other"}, "The connection_id cannot be updated."),
        (
            {"update_mask": "connection_id"},
            {"connection_id": "my_db"},
            "'connection_id' is unknown or cannot be updated.",
        ),
        ({"update_mask": "host"}, {"login": "x"}, "'host' is unknown or cannot be updated."),
        ({"update_mask": "colour"}, {"login": "x"}, "'colour' is unknown or cannot be updated."),
    ],
)
def test_patch_refusals(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    params: dict[str, str],
    payload: dict[str, Any],
    detail: str,
) -> None:
    assert _create(client, admin).status_code == 200
    response = client.patch("/connections/my_db", params=params, json=payload, auth=admin)
    assert_problem(response, 400, detail=detail)


def test_patch_validation(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin).status_code == 200
    for payload in ({"conn_type": None}, {"port": "x"}, {"colour": 1}):
        assert_problem(client.patch("/connections/my_db", json=payload, auth=admin), 400)


def test_patch_missing(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.patch("/connections/nope", json={"host": "h"}, auth=admin),
        404,
        title="Connection not found",
    )


# -- delete ----------------------------------------------------------------------------------------


def test_delete(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert _create(client, admin).status_code == 200
    response = client.delete("/connections/my_db", auth=admin)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(client.delete("/connections/my_db", auth=admin), 404)
    assert_problem(client.get("/connections/my_db", auth=admin), 404)


# -- audit -----------------------------------------------------------------------------------------


def test_mutations_are_audited_without_secrets(client: httpx.Client, accounts: Any) -> None:
    op = accounts["Op"].auth
    assert _create(client, op, password="hunter2", extra='{"api_key": "k3y", "a": 1}')
    client.patch("/connections/my_db", json={"extra": "not json s3cr3t"}, auth=op)
    client.delete("/connections/my_db", auth=op)
    with create_session(readonly=True) as session:
        rows = list(session.scalars(select(models.EventLog).order_by(models.EventLog.id)))
    assert [(r.event, r.owner) for r in rows] == [
        ("api.connection.create", "op"),
        ("api.connection.edit", "op"),
        ("api.connection.delete", "op"),
    ]
    text = " ".join(r.extra or "" for r in rows)
    assert "hunter2" not in text and "k3y" not in text and "s3cr3t" not in text
    assert json.loads(rows[0].extra or "")["extra"] == {"api_key": "***", "a": 1}
    deleted = json.loads(rows[2].extra or "")
    assert deleted == {"connection_id": "my_db", "request_id": deleted["request_id"]}
    assert len({json.loads(r.extra or "")["request_id"] for r in rows}) == 3  # one per request


# -- test ------------------------------------------------------------------------------------------


def _test(client: httpx.Client, auth: Any, **fields: Any) -> httpx.Response:
    body = {"connection_id": "probe", **fields}
    return client.post("/connections/test", json=body, auth=auth)


def test_testing_is_disabled_by_default(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = _test(client, admin, conn_type="http", host="127.0.0.1")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == DISABLED


def test_testing_hidden_is_disabled(
    client: httpx.Client, admin: httpx.BasicAuth, configure: Any
) -> None:
    configure(core__test_connection="Hidden")
    assert _test(client, admin, conn_type="http", host="127.0.0.1").text == DISABLED


@pytest.fixture
def testing(configure: Any) -> None:
    configure(core__test_connection="Enabled")


def _result(response: httpx.Response) -> tuple[bool, str]:
    assert response.status_code == 200, response.text
    body = ConnectionTestResponse.model_validate(response.json())
    return body.status, body.message


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[str]:
    """A plain HTTP server (it answers HEAD) serving one file, `ok.txt`; yields host:port."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "ok.txt").write_text("ok")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_http_connection(
    client: httpx.Client, admin: httpx.BasicAuth, testing: None, web_server: str
) -> None:
    ok = (True, "Connection successfully tested")
    assert _result(_test(client, admin, conn_type="http", host=f"{web_server}/ok.txt")) == ok
    hostname, port = web_server.split(":")
    assert (
        _result(_test(client, admin, conn_type="http", host=f"http://{hostname}", port=int(port)))
        == ok
    )
    assert (
        _result(
            _test(client, admin, conn_type="HTTP", host=hostname, port=int(port), schema="http")
        )
        == ok
    )
    assert _result(_test(client, admin, conn_type="http", host=f"{web_server}/nowhere")) == (
        False,
        "404:File not found",
    )
    status, message = _result(
        _test(client, admin, conn_type="http", host=f"127.0.0.1:{_closed_port()}")
    )
    assert status is False and message
    # https against a plain-HTTP server fails the TLS handshake.
    assert _result(_test(client, admin, conn_type="https", host=web_server))[0] is False


def test_sqlite_connection(
    client: httpx.Client, admin: httpx.BasicAuth, testing: None, tmp_path: Path
) -> None:
    good = tmp_path / "good.db"
    sqlite3.connect(good).close()
    assert _result(_test(client, admin, conn_type="sqlite", host=str(good)))[0] is True
    status, message = _result(
        _test(client, admin, conn_type="sqlite", host=str(tmp_path / "missing.db"))
    )
    assert status is False and "unable to open" in message
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, not at all" * 10)
    assert _result(_test(client, admin, conn_type="sqlite", host=str(junk)))[0] is False
    assert _result(_test(client, admin, conn_type="sqlite"))[0] is False


def test_postgres_connection(client: httpx.Client, admin: httpx.BasicAuth, testing: None) -> None:
    status, message = _result(
        _test(client, admin, conn_type="postgres", host="127.0.0.1", port=_closed_port())
    )
    assert status is False and message
    if not PG_URL:
        return
    parsed = httpx.URL(PG_URL.replace("postgresql+psycopg://", "postgresql://"))
    fields = {
        "conn_type": "postgresql",
        "host": parsed.host,
        "port": parsed.port,
        "login": parsed.username,
        "password": parsed.password or None,
        "schema": parsed.path.lstrip("/"),
    }
    assert _result(_test(client, admin, **fields)) == (True, "Connection successfully tested")


def test_unsupported_type(client: httpx.Client, admin: httpx.BasicAuth, testing: None) -> None:
    assert _result(_test(client, admin, conn_type="aws")) == (
        False,
        "Testing connections of type aws is not supported by Aerovane",
    )


def test_test_validates_the_body(
    client: httpx.Client, admin: httpx.BasicAuth, testing: None
) -> None:
    assert_problem(client.post("/connections/test", json={"conn_type": "http"}, auth=admin), 400)
    assert_problem(client.post("/connections/test", auth=admin), 400)


def test_testing_saves_nothing(client: httpx.Client, admin: httpx.BasicAuth, testing: None) -> None:
    _test(client, admin, conn_type="aws")
    assert client.get("/connections", auth=admin).json()["total_entries"] == 0


# -- who may call what -----------------------------------------------------------------------------


def _call(client: httpx.Client, operation: str, auth: tuple[str, str]) -> httpx.Response:
    if operation == "get_connections":
        return client.get("/connections", auth=auth)
    if operation == "get_connection":
        return client.get("/connections/fixed", auth=auth)
    if operation == "post_connection":
        return client.post(
            "/connections", json={"connection_id": f"new_{auth[0]}", "conn_type": "x"}, auth=auth
        )
    if operation == "patch_connection":
        return client.patch("/connections/fixed", json={"host": auth[0]}, auth=auth)
    if operation == "delete_connection":
        return client.delete(f"/connections/gone_{auth[0]}", auth=auth)
    if operation == "test_connection":
        return _test(client, auth, conn_type="aws")
    raise AssertionError(operation)


OPERATIONS = {
    "get_connections": 200,
    "get_connection": 200,
    "post_connection": 200,
    "patch_connection": 200,
    "delete_connection": 204,
    "test_connection": 200,
}


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_default_roles(
    client: httpx.Client,
    accounts: Any,
    admin: httpx.BasicAuth,
    testing: None,
    operation: str,
    role: str,
) -> None:
    for conn_id in ("fixed", f"gone_{role.lower()}"):
        assert _create(client, admin, connection_id=conn_id).status_code == 200
    response = _call(client, operation, accounts[role].auth)
    expected = OPERATIONS[operation] if role in ("Admin", "Op") else 403
    assert response.status_code == expected, (operation, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"


def test_anonymous_is_401(client: httpx.Client, accounts: Any) -> None:
    assert_problem(client.get("/connections"), 401)
    assert_problem(client.post("/connections/test", json={}), 401)


# -- the official client ---------------------------------------------------------------------------


def test_official_client(base_url: str, accounts: Any, testing: None) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.connection_api import ConnectionApi
    from airflow_client.client.model.connection import Connection

    conf = client.Configuration(host=f"{base_url}/api/v1", username="op", password="Op-pw")
    with client.ApiClient(conf) as api:
        connections = ConnectionApi(api)
        created = connections.post_connection(
            Connection(connection_id="c1", conn_type="http", extra='{"token": "t"}', password="p")
        )
        assert created.extra == '{"token": "***"}' and "password" not in created.to_dict()
        assert [c.connection_id for c in connections.get_connections().connections] == ["c1"]
        patched = connections.patch_connection(
            "c1", Connection(connection_id="c1", conn_type="http", port=8), update_mask=["port"]
        )
        assert (patched.port, patched.extra) == (8, '{"token": "***"}')
        result = connections.test_connection(Connection(connection_id="x", conn_type="aws"))
        assert result.status is False
        connections.delete_connection("c1")
        assert connections.get_connections().total_entries == 0
