"""`basic_auth`: `Authorization: Basic` checked against the users table.

The user must exist, be active and have a matching password hash. Failures all look the same
(401 with `WWW-Authenticate: Basic`), and an unknown username costs a KDF run like a wrong
password does. Successful checks are cached briefly by `aerovane.auth.passwords`, so steady API
traffic pays one indexed query per request, not a KDF. A KDF-checked password is a sign-in, a
wrong one for an active account a failed one (`aerovane.auth.sign_ins`).
"""

from __future__ import annotations

import base64
import binascii

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthResult
from aerovane.auth.passwords import PasswordCheck, burn_verification, check_user_password
from aerovane.auth.rbac import load_user_access

CHALLENGE = {"WWW-Authenticate": "Basic"}


def parse_basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, password) from an `Authorization` header value, or None if it is not Basic."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    username, sep, password = text.partition(":")
    if not sep or not username:
        return None
    return username, password


class BasicAuthBackend:
    name = "aerovane.auth.backends.basic_auth"

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        credentials = parse_basic_credentials(request.headers.get("authorization"))
        if credentials is None:
            return AuthResult.failure(401, CHALLENGE)
        username, password = credentials
        user = load_user_access(username, session=session)
        if user is None:
            burn_verification(password)
            return AuthResult.failure(401, CHALLENGE)
        if not user.active:
            burn_verification(password)
            return AuthResult.failure(401, CHALLENGE)
        checked = check_user_password(username, user.password, password)
        if checked is PasswordCheck.WRONG:
            return AuthResult.failure(401, CHALLENGE, failed_user_id=user.user_id)
        return AuthResult.authenticated(user, signed_in=checked is PasswordCheck.VERIFIED)


backend = BasicAuthBackend()
