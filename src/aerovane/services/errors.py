"""Domain errors. Each carries a human message; the API layer picks the HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    title = "Error"


class NotFound(ServiceError):
    title = "Not Found"


class AlreadyExists(ServiceError):
    title = "Conflict"


class BadRequest(ServiceError):
    title = "Bad Request"
