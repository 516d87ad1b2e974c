"""Errors as RFC 7807 `application/problem+json`, shaped exactly like Airflow 2's API errors.

Owns the problem body (type URL, title, status, detail), `ApiError` (what routes and
dependencies raise), the mapping of service errors to statuses, and the app-wide handlers:
request validation → 400, unknown routes/methods → 404/405, unique-constraint violations → 409,
a database that cannot be reached or is busy → 503 with Retry-After (a retry may succeed), any
other database or unexpected error → 500 with a correlation id that is logged (the request's
id). SQL and tracebacks never reach a response.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerovane import AIRFLOW_COMPAT_VERSION
from aerovane.logs.context import request_id
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound, ServiceError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_TYPE_NAMES: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    500: "Unknown",
}
TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# What Airflow (werkzeug) says for paths and methods that do not exist.
_ROUTING_DETAILS: dict[int, str] = {
    404: (
        "The requested URL was not found on the server. If you entered the URL manually please "
        "check your spelling and try again."
    ),
    405: "The method is not allowed for the requested URL.",
}
_DOCS = f"https://airflow.apache.org/docs/apache-airflow/{AIRFLOW_COMPAT_VERSION}"


def type_url(status: int) -> str:
    name = _TYPE_NAMES.get(status)
    if name is None:
        return "about:blank"
    return f"{_DOCS}/stable-rest-api-ref.html#section/Errors/{name}"


class ApiError(Exception):
    """An error response: raise it from routes and dependencies."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        type: str | None = None,
    ) -> None:
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail
        self.headers = dict(headers or {})
        self.type = type or type_url(status)
        super().__init__(f"{status} {self.title}: {detail}")


def problem_body(
    status: int, title: str, detail: str | None, type_: str | None = None
) -> dict[str, Any]:
    return {"detail": detail, "status": status, "title": title, "type": type_ or type_url(status)}


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    type_: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, title or TITLES.get(status, "Error"), detail, type_),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_JSON,
    )


_SERVICE_STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (NotFound, 404),
    (AlreadyExists, 409),
    (BadRequest, 400),
)


def from_service_error(exc: ServiceError, *, title: str | None = None) -> ApiError:
    """The HTTP form of a domain error (404 missing, 409 duplicate, 400 invalid)."""
    for cls, status in _SERVICE_STATUS:
        if isinstance(exc, cls):
            return ApiError(status, str(exc), title=title)
    return ApiError(400, str(exc), title=title)


def _validation_message(exc: RequestValidationError) -> str:
    """One line per problem, naming the parameter, like connexion's `... - 'limit'`."""
    parts: list[str] = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "header")]
        msg = str(error.get("msg", "Invalid value"))
        msg = msg.removeprefix("Value error, ")
        if loc == ["body"] and error.get("type") == "missing":
            parts.append("Request body must not be empty")
            continue
        if loc and loc[0] == "body":
            loc = loc[1:]
        parts.append(f"{msg} - '{'.'.join(loc)}'" if loc else msg)
    return "; ".join(parts) or "Invalid request"


def new_correlation_id() -> str:
    """The request's id (`logs/request_id.py`), so the id a client quotes finds every line
    the request logged; a new one outside a request."""
    return request_id() or uuid.uuid4().hex


def internal_error(correlation_id: str) -> JSONResponse:
    return problem_response(
        500,
        detail=(
            "An unexpected error occurred. Quote correlation id "
            f"{correlation_id} when reporting it."
        ),
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(exc.status, exc.title, exc.detail, type_=exc.type, headers=exc.headers)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return await _api_error(request, from_service_error(exc))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return problem_response(400, detail=_validation_message(exc))


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path, as werkzeug lists them; Starlette names only
    the methods of the first route whose path matched (GET /dags/x hid PATCH and DELETE)."""
    router = getattr(request.scope.get("app"), "router", None)
    routes = [r for r in getattr(router, "routes", ()) if not isinstance(r, Mount)]
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed) or None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 405:
        allow = _allowed_methods(request)
        if allow is not None:
            exc.headers = {**(exc.headers or {}), "Allow": allow}
    if status in _ROUTING_DETAILS:
        detail = exc.detail if exc.detail not in (None, TITLES.get(status)) else None
        return problem_response(
            status,
            detail=detail or _ROUTING_DETAILS[status],
            type_="about:blank",
            headers=exc.headers,
        )
    return problem_response(status, detail=str(exc.detail), headers=exc.headers)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    correlation_id = new_correlation_id()
    log.info("unique constraint violated [correlation id %s]: %s", correlation_id, exc)
    return problem_response(
        409,
        detail=(
            f"The request conflicts with an existing record (correlation id {correlation_id})."
        ),
    )


async def _data_error(request: Request, exc: Exception) -> Response:
    """A value the database refuses to store or compare (a NUL character in text on
    PostgreSQL, a number out of range) came from the client: 400, not 500."""
    correlation_id = new_correlation_id()
    log.info("database refused a value [correlation id %s]: %s", correlation_id, exc)
    return problem_response(
        400,
        detail=(
            "The request holds a value the database cannot store, such as a NUL character or "
            f"a number out of range (correlation id {correlation_id})."
        ),
    )


_RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or stayed busy: a restart or failover (a lost or
    refused PostgreSQL connection), a full connection pool, SQLite's write lock held past its
    timeout. Not a missing table or a bad statement, which a retry would not cure."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated or type(exc.orig).__module__.startswith("psycopg"):
        return True
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


async def _database_error(request: Request, exc: Exception) -> Response:
    correlation_id = new_correlation_id()
    if database_unavailable(exc):
        log.warning(
            "database unavailable on %s %s [correlation id %s]: %s",
            request.method,
            request.url.path,
            correlation_id,
            type(exc.__cause__ or exc).__name__,
        )
        return problem_response(
            503,
            detail=(
                "The metadata database is unavailable; retry in a few seconds "
                f"(correlation id {correlation_id})."
            ),
            headers={"Retry-After": str(_RETRY_AFTER_SECONDS)},
        )
    log.error(
        "database error on %s %s [correlation id %s]",
        request.method,
        request.url.path,
        correlation_id,
        exc_info=exc,
    )
    return internal_error(correlation_id)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)


class UnhandledErrorMiddleware:
    """Turns any exception nothing else handled into a 500 problem with a logged correlation id.

    Sits inside Starlette's ServerErrorMiddleware so the client gets problem+json (not a
    plain-text traceback page) and the error is logged once, here, with its id. `respond`
    (scope, correlation id) may answer otherwise, e.g. a web page.
    """

    def __init__(
        self, app: ASGIApp, respond: Callable[[Scope, str], Response] | None = None
    ) -> None:
        self.app = app
        self.respond = respond or (lambda _scope, correlation_id: internal_error(correlation_id))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            correlation_id = new_correlation_id()
            log.exception(
                "unhandled error on %s %s [correlation id %s]",
                scope.get("method"),
                scope.get("path"),
                correlation_id,
            )
            if started:
                raise
            await self.respond(scope, correlation_id)(scope, receive, send)
