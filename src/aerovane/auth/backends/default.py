"""`default`: lets every request through as anonymous, which then holds the Public role's
permissions (none by default, so the stable API answers 403)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthResult


class DefaultBackend:
    name = "aerovane.auth.backends.default"

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        return AuthResult.anonymous()


backend = DefaultBackend()
