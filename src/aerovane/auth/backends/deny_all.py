"""`deny_all`: refuses every request (the stable API turns this into 401)."""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthResult


class DenyAllBackend:
    name = "aerovane.auth.backends.deny_all"

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        return AuthResult.failure(403)


backend = DenyAllBackend()
