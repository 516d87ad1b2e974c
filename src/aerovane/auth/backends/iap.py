"""`iap` (alias `airflow.composer.api.backend.composer_auth`): the caller is whoever the proxy's
signed `X-Goog-IAP-JWT-Assertion` names, mapped to an Airflow user by its immutable subject.

Only the assertion is believed, never the plain `X-Goog-Authenticated-User-*` headers (anyone who
can reach the API port can send those). The assertion is checked with the token service's
published `iap` keys for `[proxy] audience` (`verify_iap_assertion`), which also requires its
principal to still exist and be enabled. The mapping (decision 0008):
- a local account's subject (`<ns>:<10**20 + ab_user.id>`, people who sign in on the proxy's
  page or use their own ID token) is that account, by id;
- any other subject (a service account) is the user whose username is the subject
  (`accounts.google.com:<id>`, Composer's rule and its documented pre-registration); with none,
  a new user is registered with role `[api] composer_auth_user_registration_role`, first name =
  email and last name "-", unless a user is named by the email or has it (then 401: Composer
  would rename the first and fails on the second).
No user is ever renamed or taken over by email. Every failure, including an inactive user, is
401 with `WWW-Authenticate: Composer`.

Lookups use the read-only session handed in; registering (once per principal) writes in a
session of its own. A verified assertion's signature is not checked again while it lives
(`aerovane.auth.token_cache`); its principal is, on every request. A service account's newly
verified assertion is a sign-in (`aerovane.auth.sign_ins`); people sign in on the proxy's page.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from aerovane.auth.backends.base import AuthResult
from aerovane.auth.rbac import UserAccess, load_user_access, load_user_access_by_id
from aerovane.auth.token_cache import VerifiedTokenCache, check_principal
from aerovane.auth.users import create_user, find_user, find_user_by_email
from aerovane.config import get_settings
from aerovane.db.engine import create_session
from aerovane.identity import TokenError, iap_audience, verify_iap_assertion
from aerovane.identity.principals import USER_ID_BASE, is_user_id
from aerovane.services.errors import AlreadyExists, BadRequest

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": "Composer"}
ASSERTION_HEADER = "x-goog-iap-jwt-assertion"


def _refusal(email: str, *, session: Session) -> str | None:
    """Why a principal with no user of its own may not register, or None if it may.

    The email never selects a user to act as (decision 0008). Where Composer would hand the
    principal an existing user by email (one *named* by the email, which it renames to `sub`)
    or fail on a duplicate email, Aerovane refuses: that user may be a person's login or a
    deleted principal's.
    """
    if find_user(email, session=session) is not None:
        return "a user is named by its email"
    if find_user_by_email(email, session=session) is not None:
        return "its email belongs to another user"
    return None


def _register(sub: str, email: str) -> UserAccess | None:
    """Composer's registration of a new principal (also the loser of a concurrent first request
    finds the winner's user here)."""
    role = get_settings().getstr("api", "composer_auth_user_registration_role")
    try:
        with create_session() as session:
            if find_user(sub, session=session) is None:
                refusal = _refusal(email, session=session)
                if refusal is not None:
                    _log_refusal(sub, email, refusal)
                    return None
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
            return load_user_access(sub, session=session)
    except (AlreadyExists, BadRequest, IntegrityError) as exc:
        log.warning("iap: cannot register %s: %s", email, exc)
        return None


def _log_refusal(sub: str, email: str, refusal: str) -> None:
    log.warning(
        "iap: %s (%s) has no user and cannot register: %s. Create a user named %s for it, "
        "or delete the other user if it is stale.",
        email,
        sub,
        refusal,
        sub,
    )


def find_or_register(sub: str, email: str, *, session: Session) -> UserAccess | None:
    """The user the principal `sub` acts as, found by its immutable subject alone; a service
    account with none is registered once. None: it may not act."""
    unique_id = sub.rpartition(":")[2]
    if is_user_id(unique_id):
        # A person with a local account (signed in on the proxy's page, or their own ID token):
        # that very account, by id, whatever its username or email say.
        return load_user_access_by_id(int(unique_id) - USER_ID_BASE, session=session)
    user = load_user_access(sub, session=session)
    if user is not None:
        return user
    refusal = _refusal(email, session=session)
    if refusal is not None:
        _log_refusal(sub, email, refusal)
        return None
    return _register(sub, email)


#: Assertions already verified; the proxy reuses one per principal for minutes.
verified_assertions: VerifiedTokenCache[tuple[str, str]] = VerifiedTokenCache()


def _verified(token: str, session: Session) -> tuple[str, str, bool]:
    """(sub, email, verified now) of a valid assertion whose principal still exists and is
    enabled; `verified now` is False for an assertion verified earlier."""
    verified_assertions.bind(get_settings())
    cached = verified_assertions.get(token)
    if cached is None:
        cached = verify_iap_assertion(token, audience=iap_audience(), session=session)
        verified_assertions.put(token, cached)
        return (*cached, True)
    sub, email = cached
    check_principal(sub.rpartition(":")[2], email, session=session)
    return (sub, email, False)


class IapBackend:
    name = "aerovane.auth.backends.iap"

    def authenticate(self, request: HTTPConnection, session: Session) -> AuthResult:
        token = request.headers.get(ASSERTION_HEADER)
        if not token:
            return AuthResult.failure(401, CHALLENGE)
        try:
            sub, email, fresh = _verified(token, session)
        except TokenError as exc:
            log.info("iap: JWT verification error: %s", exc.reason)
            return AuthResult.failure(401, CHALLENGE)
        user = find_or_register(sub, email, session=session)
        if user is None or not user.active:
            return AuthResult.failure(401, CHALLENGE)
        # A person's sign-in was recorded by the proxy's page; a service account signs in
        # with each new assertion (the proxy reuses one for minutes).
        signed_in = fresh and not is_user_id(sub.rpartition(":")[2])
        return AuthResult.authenticated(user, signed_in=signed_in)


backend = IapBackend()
