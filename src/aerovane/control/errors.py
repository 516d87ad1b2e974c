"""Errors in Google's JSON shape: `{"error": {"code", "message", "status"}}`.

The control plane speaks Google's API conventions, not Airflow's problem+json, so its routes use
`GoogleErrorRoute`: a `GoogleError` or a request that fails validation, raised by a handler or
any of its dependencies, becomes Google's error body before the app-wide handlers see it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
}


class GoogleError(Exception):
    def __init__(
        self, code: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    @property
    def status(self) -> str:
        return STATUS_NAMES.get(self.code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.code, headers=self.headers)


def invalid_argument(message: str) -> GoogleError:
    return GoogleError(400, message)


def not_found(message: str) -> GoogleError:
    return GoogleError(404, message)


def failed_precondition(message: str) -> GoogleError:
    return GoogleError(412, message)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(item) for item in error.get("loc", ()) if item != "body")
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "Invalid JSON payload received. " + "; ".join(parts)


class GoogleErrorRoute(APIRoute):
    """An APIRoute whose errors are Google's JSON errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except GoogleError as exc:
                return exc.response()
            except RequestValidationError as exc:
                return invalid_argument(_validation_message(exc)).response()

        return route_handler
