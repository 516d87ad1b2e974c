"""Errors of the web UI as HTML pages a browser can show.

`PageError` is what page routes and dependencies raise; `SignInRequired` sends a browser to the
sign-in form. `install_page_errors(app)` wraps the API's handlers so the same exceptions
(`ApiError`, service errors, validation, unknown routes) answer HTML on pages and stay
problem+json on the API. A request is a page when its route is a `PageRoute`, or, for a path no
route matches, when it is outside the API's prefixes and the browser accepts HTML.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response
from starlette.types import Scope

from aerovane.api.errors import TITLES, ApiError, from_service_error
from aerovane.services.errors import ServiceError

#: Paths that belong to machine clients (API, token service, metadata server) whatever they
#: accept: their errors keep their own shapes.
API_PREFIXES = (
    "/api/",
    "/auth/",
    "/v1/",
    "/v1beta1/",
    "/token",
    "/.well-known/",
    "/oauth2/",
    "/iap/",
    "/service_accounts/",
    "/computeMetadata",
    "/health",
)

Handler = Callable[[Request, Exception], Awaitable[Response]]


class PageRoute(APIRoute):
    """A route of the web UI (its errors are HTML pages)."""


class PageError(Exception):
    """An error page: its status, a sentence for the person, optional headers."""

    def __init__(
        self, status: int, message: str = "", *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class SignInRequired(Exception):
    """Nobody is signed in: the browser goes to the sign-in form (or sees why it cannot)."""


def is_page_path(path: str) -> bool:
    """Whether a path outside every machine API (so possibly a page)."""
    return not path.startswith(API_PREFIXES)


def is_page_scope(scope: Scope) -> bool:
    """`is_page_request` for middleware, which has a scope (routed or not) but no request."""
    return is_page_request(Request(scope))


def is_page_request(request: Request) -> bool:
    route = request.scope.get("route")
    if route is not None:
        return isinstance(route, PageRoute)
    path = request.url.path
    if path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


_MESSAGES = {
    400: "The request could not be understood.",
    401: "You are not signed in.",
    403: "You do not have permission to do that.",
    404: "There is no such page.",
    405: "That method is not allowed here.",
    409: "That already exists.",
}


def error_page(
    request: Request, status: int, message: str = "", headers: Mapping[str, str] | None = None
) -> Response:
    from aerovane.www.templating import render

    return render(
        request,
        "error.html",
        {
            "status": status,
            "title": TITLES.get(status, "Error"),
            "message": message or _MESSAGES.get(status, ""),
        },
        status=status,
        headers=headers,
    )


def bare_error_page(status: int, message: str) -> Response:
    """An error page for answers given before routing (e.g. a refused request body), where
    no person is known yet."""
    from aerovane.www.templating import environment

    html = (
        environment()
        .get_template("error.html")
        .render(
            {
                "status": status,
                "title": TITLES.get(status, "Error"),
                "message": message,
                "menus": [],
            }
        )
    )
    return HTMLResponse(html, status_code=status)


def server_error_page(
    status: int, correlation_id: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A 500 or 503 as a page with the id to quote (the request's, on its log lines). Without
    menus: the database, which they need, may be what failed."""
    if status == 503:
        message = (
            "The metadata database is unavailable; retry in a few seconds "
            f"(correlation id {correlation_id})."
        )
    else:
        message = (
            f"Something went wrong on our side. Quote correlation id {correlation_id} "
            "when reporting it."
        )
    response = bare_error_page(status, message)
    response.headers.update(headers or {})
    return response


def _database_errors_as_html(original: Handler) -> Handler:
    """The API's answer to a database error (logged there, with its correlation id), as a
    page: a server error with the id to quote, or the refusal's own sentence."""

    async def handle(request: Request, exc: Exception) -> Response:
        answer = await original(request, exc)
        if not is_page_request(request):
            return answer
        from aerovane.api.errors import new_correlation_id

        if answer.status_code >= 500:
            kept = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
            return server_error_page(answer.status_code, new_correlation_id(), kept)
        detail = json.loads(bytes(answer.body)).get("detail", "")
        return error_page(request, answer.status_code, detail)

    return handle


def _as_page(exc: Exception) -> tuple[int, str, Mapping[str, str]]:
    if isinstance(exc, ApiError):
        return exc.status, exc.detail or "", exc.headers
    if isinstance(exc, ServiceError):
        error = from_service_error(exc)
        return error.status, error.detail or "", {}
    if isinstance(exc, RequestValidationError):
        return 400, "The form or address has a value that is not valid.", {}
    if isinstance(exc, StarletteHTTPException):
        allow = (exc.headers or {}).get("Allow")
        return exc.status_code, "", {"Allow": allow} if allow else {}
    return 500, "", {}


def _pages_as_html(original: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not is_page_request(request):
            return await original(request, exc)
        status, message, headers = _as_page(exc)
        # A challenge such as `WWW-Authenticate: Basic` would make the browser ask for a password.
        kept = {k: v for k, v in headers.items() if k.lower() != "www-authenticate"}
        return error_page(request, status, message if status < 500 else "", kept)

    return handle


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return error_page(request, exc.status, exc.message, exc.headers)


def install_page_errors(app: FastAPI, sign_in: Handler) -> None:
    for exc_class in (StarletteHTTPException, ApiError, ServiceError, RequestValidationError):
        original = app.exception_handlers.get(exc_class)
        if original is not None:
            app.add_exception_handler(exc_class, _pages_as_html(original))
    for exc_class in (IntegrityError, DataError, SQLAlchemyError):
        original = app.exception_handlers.get(exc_class)
        if original is not None:
            app.add_exception_handler(exc_class, _database_errors_as_html(original))
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(SignInRequired, sign_in)
