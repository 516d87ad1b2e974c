"""The OAuth 2.0 grants `POST /token` serves, as plain functions over a form and a session.

- `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523): a service account's assertion;
  `target_audience` gets an ID token, `scope` an access token (what google-auth sends).
- `password`: a local user's username and password get a refresh token; repeated failures
  are throttled per account and per client address (`throttle`: 429 `slow_down`).
- `refresh_token`: a refresh token plus `audience` (ID token) or `scope` (access token),
  optionally `impersonate=SA_EMAIL` when the user holds roles/iam.serviceAccountTokenCreator on
  that account.

Refusals are `OAuthError`s, which the route renders as `{"error", "error_description"}`. The
description is a fixed reason; the form (assertions, passwords, tokens) is never echoed or
logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from aerovane.auth.passwords import burn_verification, verify_user_password
from aerovane.auth.sign_ins import record_failed_sign_in, record_sign_in
from aerovane.auth.users import find_user
from aerovane.identity import throttle, tokens
from aerovane.identity.principals import (
    Principal,
    TokenError,
    principal_for_service_account,
    principal_for_user,
)
from aerovane.identity.service_accounts import find_service_account, may_create_tokens
from aerovane.identity.verify import verify_assertion, verify_refresh_token
from aerovane.metrics import Stats

log = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PASSWORD = "password"
REFRESH_TOKEN = "refresh_token"
GRANT_TYPES = (JWT_BEARER, PASSWORD, REFRESH_TOKEN)
#: Grant types as metric labels (a StatsD name cannot hold the URN's colons).
_GRANT_LABELS = {JWT_BEARER: "jwt_bearer", PASSWORD: "password", REFRESH_TOKEN: "refresh_token"}

MAX_AUDIENCE_LENGTH = 1024
MAX_SCOPE_LENGTH = 2048
MAX_FIELD_LENGTH = 8192


class OAuthError(Exception):
    """An OAuth error response (RFC 6749 §5.2)."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def token_response(
    form: Mapping[str, str], *, session: Session, client_address: str | None = None
) -> dict[str, Any]:
    """The JSON body of a successful token response for `form`, else OAuthError.

    `client_address` is who is asking, for throttling password guesses (`throttle`); every
    answer is counted by grant and result (`identity.token_requests`)."""
    grant = form.get("grant_type", "")
    tags = {"grant": _GRANT_LABELS.get(grant, "other"), "result": "issued"}
    try:
        body = _token_response(form, session=session, client_address=client_address)
    except OAuthError as exc:
        Stats.incr("identity.token_requests", tags={**tags, "result": exc.error})
        raise
    Stats.incr("identity.token_requests", tags=tags)
    return body


def _token_response(
    form: Mapping[str, str], *, session: Session, client_address: str | None
) -> dict[str, Any]:
    for value in form.values():
        if len(value) > MAX_FIELD_LENGTH:
            raise OAuthError("invalid_request", "A request parameter is too long")
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "Missing required parameter: grant_type")
    try:
        if grant_type == JWT_BEARER:
            return _jwt_bearer(form, session)
        if grant_type == PASSWORD:
            return _password(form, session, client_address)
        if grant_type == REFRESH_TOKEN:
            return _refresh(form, session)
    except TokenError as exc:
        log.info("Token request (%s) refused: %s", grant_type, exc.reason)
        raise OAuthError("invalid_grant", exc.reason) from None
    raise OAuthError("unsupported_grant_type", "Invalid grant_type")


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise OAuthError("invalid_request", f"Missing required parameter: {name}")
    return value


def _scopes(raw: str) -> list[str]:
    if len(raw) > MAX_SCOPE_LENGTH:
        raise OAuthError("invalid_scope", "Scope is too long")
    scopes = [s for s in raw.replace(",", " ").split() if s]
    if not scopes or any(not s.isprintable() for s in scopes):
        raise OAuthError("invalid_scope", "Empty or missing scope not allowed.")
    return scopes


def _audience(raw: str) -> str:
    if len(raw) > MAX_AUDIENCE_LENGTH or not raw.isprintable():
        raise OAuthError("invalid_request", "Invalid audience")
    return raw


def _issue(
    principal: Principal, *, audience: str | None, scope: str | None, session: Session
) -> dict[str, Any]:
    if audience is not None:
        return {"id_token": tokens.mint_id_token(principal, _audience(audience), session=session)}
    if scope is not None:
        token, expires_in = tokens.mint_access_token(principal, _scopes(scope), session=session)
        return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
    raise OAuthError("invalid_scope", "Empty or missing scope not allowed.")


def _jwt_bearer(form: Mapping[str, str], session: Session) -> dict[str, Any]:
    assertion = verify_assertion(_required(form, "assertion"), session=session)
    return _issue(
        assertion.principal,
        audience=assertion.target_audience,
        scope=assertion.scope,
        session=session,
    )


def _password(
    form: Mapping[str, str], session: Session, client_address: str | None
) -> dict[str, Any]:
    username = _required(form, "username")
    password = _required(form, "password")
    try:
        throttle.check(username, client_address, session=session)
    except throttle.Throttled as exc:
        log.warning("Password grant throttled after repeated failures")
        raise OAuthError(
            "slow_down",
            "Too many failed attempts; try again later",
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    user = find_user(username, session=session)
    if user is None:
        burn_verification(password)
    elif verify_user_password(user.username, user.password, password) and user.active:
        body = {"refresh_token": tokens.mint_refresh_token(user, session=session)}
        throttle.record_success(username, client_address)
        record_sign_in(user.id)  # `aerovane auth login` signs in as the form does
        return body
    throttle.record_failure(username, client_address)
    if user is not None and user.active:
        record_failed_sign_in(user.id)
    raise OAuthError("invalid_grant", "Invalid username or password")


def _refresh(form: Mapping[str, str], session: Session) -> dict[str, Any]:
    user = verify_refresh_token(_required(form, "refresh_token"), session=session)
    audience = form.get("audience") or None
    scope = form.get("scope") or None
    principal = principal_for_user(user)
    target = form.get("impersonate")
    if target:
        account = find_service_account(target, session=session)
        if account is None or not may_create_tokens(f"user:{user.email}", account, session=session):
            raise OAuthError(
                "access_denied",
                "Permission 'iam.serviceAccounts.getOpenIdToken' denied on resource "
                "(or it may not exist).",
                status=403,
            )
        if account.disabled:
            raise OAuthError("invalid_grant", "Service account is disabled", status=403)
        principal = principal_for_service_account(account)
    return _issue(principal, audience=audience, scope=scope, session=session)
