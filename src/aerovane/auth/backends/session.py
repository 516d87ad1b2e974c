"""`session`: a signed `session` cookie (see `aerovane.auth.sessions`) naming an active user.

Anything else — no cookie, a forged, malformed or expired one, a deleted or inactive user, one
issued before the user signed out or changed password — is a
401 without a `WWW-Authenticate` challenge, as Airflow's session backend answers.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthResult
from aerovane.auth.rbac import load_user_access_by_id
from aerovane.auth.sessions import SESSION_COOKIE, read_session


class SessionBackend:
    name = "aerovane.auth.backends.session"

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        value = request.cookies.get(SESSION_COOKIE)
        claims = read_session(value) if value else None
        if claims is None:
            return AuthResult.failure(401)
        user = load_user_access_by_id(claims.user_id, session=session)
        if user is None or not user.active:
            return AuthResult.failure(401)
        if not claims.still_holds(user.session_epoch, user.password):
            return AuthResult.failure(401)  # signed out, or the password changed, since
        return AuthResult.authenticated(user)


backend = SessionBackend()
