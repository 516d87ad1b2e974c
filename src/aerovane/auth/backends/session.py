"""`session`: a signed `session` cookie (see `aerovane.auth.sessions`) naming an active user
who has neither signed out nor changed their password since it was issued.

Anything else — no cookie, a forged, malformed, expired or revoked one, a deleted or inactive
user — is a 401 without a `WWW-Authenticate` challenge, as Airflow's session backend answers.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthResult
from aerovane.auth.rbac import load_user_access_by_id
from aerovane.auth.sessions import SESSION_COOKIE, is_current, read_session_cookie


class SessionBackend:
    name = "aerovane.auth.backends.session"

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        value = request.cookies.get(SESSION_COOKIE)
        cookie = read_session_cookie(value) if value else None
        if cookie is None:
            return AuthResult.failure(401)
        user = load_user_access_by_id(cookie.user_id, session=session)
        if user is None or not is_current(cookie, user):
            return AuthResult.failure(401)
        return AuthResult.authenticated(user)


backend = SessionBackend()
