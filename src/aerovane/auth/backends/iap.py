"""`iap` (alias `airflow.composer.api.backend.composer_auth`): the caller is whoever the proxy's
signed `X-Goog-IAP-JWT-Assertion` names, as Cloud Composer's backend decides.

Only the assertion is believed, never the plain `X-Goog-Authenticated-User-*` headers (anyone who
can reach the API port can send those). The assertion is checked with the token service's
published `iap` keys for `[proxy] audience` (`verify_iap_assertion`), which also requires its
principal to still exist and be enabled. Its `sub` (`accounts.google.com:<id>`) is the username,
by Composer's rules: a user with that username; else a pre-registered user whose username is
the email, renamed to the `sub`; else (Aerovane's local people, who sign in on the proxy's page)
the user whose email is the email, unchanged; else a new user with role
`[api] composer_auth_user_registration_role`, first name = email and last name "-". Every
failure, including an inactive user or one that cannot be registered, is 401 with
`WWW-Authenticate: Composer`.

Lookups use the read-only session handed in; renaming and registering (once per principal)
write in a session of their own. A verified assertion's signature is not checked again while
it lives (`aerovane.auth.token_cache`); its principal is, on every request.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthResult
from aerovane.auth.rbac import UserAccess, load_user_access
from aerovane.auth.token_cache import VerifiedTokenCache, check_principal
from aerovane.auth.users import create_user, find_user, find_user_by_email
from aerovane.config import get_settings
from aerovane.db.engine import create_session
from aerovane.identity import TokenError, iap_audience, verify_iap_assertion
from aerovane.services.errors import AlreadyExists, BadRequest

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": "Composer"}
ASSERTION_HEADER = "x-goog-iap-jwt-assertion"


def _rename_or_register(sub: str, email: str) -> UserAccess | None:
    """Composer's rules 2 and 4 (and 1 again, for a concurrent first request)."""
    role = get_settings().getstr("api", "composer_auth_user_registration_role")
    try:
        with create_session() as session:
            user = find_user(sub, session=session)
            if user is None:
                user = find_user(email, session=session)
                if user is not None:
                    log.info("iap: pre-registered user %s is now %s", email, sub)
                    user.username = sub
                    session.flush()
                elif find_user_by_email(email, session=session) is None:
                    log.info("iap: registering %s as %s with role %s", email, sub, role)
                    create_user(
                        username=sub,
                        email=email,
                        first_name=email,
                        last_name="-",
                        role_names=[role],
                        password=None,
                        session=session,
                    )
                else:
                    return None  # the email now belongs to someone else (a race): refuse
            return load_user_access(sub, session=session)
    except (AlreadyExists, BadRequest, IntegrityError) as exc:
        log.warning("iap: cannot register %s: %s", email, exc)
        return None


def find_or_register(sub: str, email: str, *, session: Session) -> UserAccess | None:
    user = load_user_access(sub, session=session)
    if user is not None:
        return user
    if find_user(email, session=session) is None:
        local = find_user_by_email(email, session=session)
        if local is not None:
            return load_user_access(local.username, session=session)
    return _rename_or_register(sub, email)


#: Assertions already verified; the proxy reuses one per principal for minutes.
verified_assertions: VerifiedTokenCache[tuple[str, str]] = VerifiedTokenCache()


def _verified(token: str, session: Session) -> tuple[str, str]:
    """(sub, email) of a valid assertion whose principal still exists and is enabled."""
    verified_assertions.bind(get_settings())
    cached = verified_assertions.get(token)
    if cached is None:
        cached = verify_iap_assertion(token, audience=iap_audience(), session=session)
        verified_assertions.put(token, cached)
        return cached
    sub, email = cached
    check_principal(sub.rpartition(":")[2], email, session=session)
    return cached


class IapBackend:
    name = "aerovane.auth.backends.iap"

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        token = request.headers.get(ASSERTION_HEADER)
        if not token:
            return AuthResult.failure(401, CHALLENGE)
        try:
            sub, email = _verified(token, session)
        except TokenError as exc:
            log.info("iap: JWT verification error: %s", exc.reason)
            return AuthResult.failure(401, CHALLENGE)
        user = find_or_register(sub, email, session=session)
        if user is None or not user.active:
            return AuthResult.failure(401, CHALLENGE)
        return AuthResult.authenticated(user)


backend = IapBackend()
