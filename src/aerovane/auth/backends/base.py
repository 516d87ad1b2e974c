"""The contract of an API auth backend, and loading the configured chain of them.

A backend looks at one request and answers: this user, anonymous, or failure (with the status
and headers it would answer with on its own, e.g. `WWW-Authenticate: Basic`). How failures of a
whole chain become 401 versus 403 is the API's business (`aerovane.api.deps`), per §2 of the
API notes. Backends never write to the database through the session they are handed; a sign-in
to record is flagged on the result (`signed_in`, `failed_user_id`) and written by the caller off
the event loop.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.registry import resolve_backend_names
from aerovane.auth.rbac import UserAccess


class AuthOutcome(enum.Enum):
    USER = "user"
    ANONYMOUS = "anonymous"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class AuthResult:
    outcome: AuthOutcome
    user: UserAccess | None = None
    status: int = 401
    headers: Mapping[str, str] = field(default_factory=dict)
    #: This request signed the user in (`aerovane.auth.sign_ins`); the caller records it.
    signed_in: bool = False
    #: An active account whose password was wrong (FAB's `fail_login_count`).
    failed_user_id: int | None = None

    @classmethod
    def authenticated(cls, user: UserAccess, *, signed_in: bool = False) -> AuthResult:
        return cls(AuthOutcome.USER, user=user, status=200, signed_in=signed_in)

    @classmethod
    def anonymous(cls) -> AuthResult:
        return cls(AuthOutcome.ANONYMOUS, status=200)

    @classmethod
    def failure(
        cls,
        status: int = 401,
        headers: Mapping[str, str] | None = None,
        *,
        failed_user_id: int | None = None,
    ) -> AuthResult:
        return cls(
            AuthOutcome.FAILURE,
            status=status,
            headers=dict(headers or {}),
            failed_user_id=failed_user_id,
        )


class AuthBackend(Protocol):
    #: The canonical name, as in `aerovane.auth.backends.registry.BACKENDS`.
    name: str

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        """Decide who is calling; `session` is a read-only session for lookups."""
        ...


def load_backend(canonical_name: str) -> AuthBackend:
    """The `backend` object of the module named by a canonical registry name."""
    module = importlib.import_module(canonical_name)
    backend: AuthBackend = module.backend
    return backend


def load_backends(names: Sequence[str]) -> tuple[AuthBackend, ...]:
    """The chain for configured names (aliases allowed); ValueError on an unknown name."""
    return tuple(load_backend(name) for name in resolve_backend_names(list(names)))
