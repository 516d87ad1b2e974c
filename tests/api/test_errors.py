"""Errors are problem+json shaped exactly like Airflow's; database and unexpected errors never
leak SQL or tracebacks."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.middleware import Middleware

from aerovane.api.errors import UnhandledErrorMiddleware, install_error_handlers, type_url
from aerovane.api.middleware import NoStoreMiddleware
from aerovane.api.v1.datamodels.common import ErrorResponse
from tests.api.conftest import run_server

DOCS = "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html"


def assert_problem(response: httpx.Response, status: int, **expected: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    ErrorResponse.model_validate(body)
    assert set(body) == {"type", "title", "status", "detail"}
    assert body["status"] == status
    for key, value in expected.items():
        assert body[key] == value, (key, body)
    return body


def test_type_urls() -> None:
    assert type_url(400) == f"{DOCS}#section/Errors/BadRequest"
    assert type_url(401) == f"{DOCS}#section/Errors/Unauthenticated"
    assert type_url(403) == f"{DOCS}#section/Errors/PermissionDenied"
    assert type_url(404) == f"{DOCS}#section/Errors/NotFound"
    assert type_url(405) == f"{DOCS}#section/Errors/MethodNotAllowed"
    assert type_url(409) == f"{DOCS}#section/Errors/AlreadyExists"
    assert type_url(500) == f"{DOCS}#section/Errors/Unknown"


def test_unknown_route_is_404_problem(client: httpx.Client) -> None:
    body = assert_problem(client.get("/no/such/thing"), 404, type="about:blank", title="Not Found")
    assert body["detail"].startswith("The requested URL was not found on the server.")


def test_unknown_method_is_405_problem(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.delete("/version", auth=admin)
    assert_problem(
        response,
        405,
        type="about:blank",
        title="Method Not Allowed",
        detail="The method is not allowed for the requested URL.",
    )
    assert "GET" in response.headers["allow"]


def test_not_found_problem(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.get("/dags/missing", auth=admin),
        404,
        type=f"{DOCS}#section/Errors/NotFound",
        title="DAG not found",
        detail="The DAG with dag_id: missing was not found",
    )


def test_validation_error_is_400(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = assert_problem(
        client.get("/dags", params={"limit": "many"}, auth=admin),
        400,
        type=f"{DOCS}#section/Errors/BadRequest",
        title="Bad Request",
    )
    assert "'limit'" in body["detail"]


def test_unknown_query_parameter_is_400(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.get("/dags", params={"colour": "blue", "limit": 5}, auth=admin),
        400,
        detail="Extra query parameter(s) colour not in spec",
    )


def test_bad_json_body_is_400(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.patch(
        "/dags/x",
        content=b"{not json",
        headers={"content-type": "application/json"},
        auth=admin,
    )
    assert_problem(response, 400)


def test_empty_body_is_400(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(
        client.post("/dags/x/dagRuns", auth=admin),
        400,
        detail="Request body must not be empty",
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def failing_app_url(tmp_path: Path) -> Any:
    app = FastAPI(middleware=[Middleware(NoStoreMiddleware), Middleware(UnhandledErrorMiddleware)])
    install_error_handlers(app)

    @app.get("/postgres-down")
    def postgres_down() -> None:
        engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()

    @app.get("/sqlite-locked")
    def sqlite_locked() -> None:
        path = tmp_path / "locked.db"
        holder = create_engine(f"sqlite:///{path}")
        waiter = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
        try:
            with holder.connect() as held:
                held.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
                held.commit()
                held.exec_driver_sql("BEGIN EXCLUSIVE")
                with waiter.connect() as blocked:
                    blocked.exec_driver_sql("INSERT INTO t VALUES (1)")
        finally:
            holder.dispose()
            waiter.dispose()

    @app.get("/integrity")
    def integrity() -> None:
        raise IntegrityError("INSERT INTO secret_table VALUES (1)", {}, Exception("UNIQUE"))

    @app.get("/operational")
    def operational() -> None:
        raise OperationalError("SELECT password FROM ab_user", {}, Exception("boom"))

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("internal detail that must not leak")

    with run_server(app) as url:
        yield url


def test_integrity_error_is_409_without_sql(failing_app_url: str) -> None:
    body = assert_problem(httpx.get(failing_app_url + "/integrity"), 409, title="Conflict")
    assert "secret_table" not in body["detail"]
    assert "correlation id" in body["detail"]


def test_database_error_is_500_with_logged_correlation_id(
    failing_app_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="aerovane.api.errors"):
        body = assert_problem(
            httpx.get(failing_app_url + "/operational"), 500, title="Internal Server Error"
        )
    assert "password" not in body["detail"] and "SELECT" not in body["detail"]
    correlation_id = body["detail"].split("correlation id ")[1].split()[0]
    assert any(correlation_id in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("route", ["/postgres-down", "/sqlite-locked"])
def test_an_unreachable_or_locked_database_is_503_with_retry_after(
    failing_app_url: str, route: str
) -> None:
    response = httpx.get(failing_app_url + route)
    body = assert_problem(response, 503, title="Service Unavailable")
    assert response.headers["Retry-After"] == "5"
    assert "correlation id" in body["detail"] and "127.0.0.1" not in body["detail"]


def test_unexpected_error_is_500_problem(
    failing_app_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="aerovane.api.errors"):
        body = assert_problem(httpx.get(failing_app_url + "/crash"), 500)
    assert "must not leak" not in body["detail"]
    correlation_id = body["detail"].split("correlation id ")[1].split()[0]
    assert any(correlation_id in record.getMessage() for record in caplog.records)


def test_database_down_health_reports_unhealthy(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.api.v1 import monitoring

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError(str(text("SELECT 1")), {}, Exception("connection refused"))

    monkeypatch.setattr(monitoring, "create_session", broken)
    body = client.get("/health").json()
    assert body["metadatabase"] == {"status": "unhealthy"}
    assert body["scheduler"]["status"] == "unhealthy"
