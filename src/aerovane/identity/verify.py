"""Checking tokens: ID tokens, access tokens, IAP assertions, refresh tokens, and the JWT-bearer
assertions service accounts sign with their own keys.

Every check is the same walk: a bounded, well-formed compact JWT; the algorithm pinned for the
key's purpose (`alg: none`, HS* and any mismatch are refused before a key is touched); a `kid`
that names a key still published (or, for assertions, a live user-managed key); the signature;
`iat`/`exp`/`nbf` within the clock skew; `iss`; `aud`; and finally the principal still existing
and enabled. Failures raise `TokenError` with a fixed, short reason: never the token, never
library text that might quote it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.identity import keys, project
from aerovane.identity.principals import (
    USER_ID_BASE,
    Principal,
    TokenError,
    is_user_id,
    principal_for_service_account,
    resolve_principal,
)
from aerovane.identity.tokens import ACCESS_TOKEN_TYPE, ACCESS_TOKEN_USE, REFRESH_TOKEN_USE

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 8192
MAX_KID_LENGTH = 64
#: A JWT-bearer assertion may live at most an hour (Google's limit).
MAX_ASSERTION_LIFETIME = 3600
#: IAP allows 30 s of skew on its assertions.
IAP_CLOCK_SKEW = 30

KeyFinder = Callable[[str], Any]


def _parse_header(token: object) -> dict[str, Any]:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenError("Unable to parse JWT")
    if token.count(".") != 2 or not token.isascii():
        raise TokenError("Unable to parse JWT")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("Unable to parse JWT") from None
    if not isinstance(header, dict):
        raise TokenError("Unable to parse JWT")
    return header


def _decode(
    token: object,
    *,
    alg: str,
    find_key: KeyFinder,
    skew: int,
    max_lifetime: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Signature and times checked; returns (header, claims). `iss`/`aud` are the caller's."""
    header = _parse_header(token)
    if header.get("alg") != alg:
        raise TokenError("JWT signature is invalid")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise TokenError("Unknown JWT key id")
    key = find_key(kid)
    if key is None:
        raise TokenError("Unknown JWT key id")
    try:
        claims = jwt.decode(
            token,  # type: ignore[arg-type]
            key,
            algorithms=[alg],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise TokenError("JWT signature is invalid") from None
    except jwt.PyJWTError:
        raise TokenError("Unable to parse JWT") from None
    if not isinstance(claims, dict):
        raise TokenError("Unable to parse JWT")
    _check_times(claims, skew=skew, max_lifetime=max_lifetime)
    return header, claims


def _int_claim(claims: dict[str, Any], name: str) -> int:
    """A NumericDate claim as seconds; JSON's NaN and ±Infinity (which Python's parser
    accepts) are invalid, not a crash in `int()`."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"JWT '{name}' claim is missing or invalid")
    if isinstance(value, float) and not math.isfinite(value):
        raise TokenError(f"JWT '{name}' claim is missing or invalid")
    return int(value)


def _check_times(claims: dict[str, Any], *, skew: int, max_lifetime: int | None) -> None:
    now = int(time.time())
    iat = _int_claim(claims, "iat")
    exp = _int_claim(claims, "exp")
    if exp <= now - skew:
        raise TokenError("Expired JWT")
    if iat > now + skew:
        raise TokenError("JWT is not yet valid")
    if "nbf" in claims and _int_claim(claims, "nbf") > now + skew:
        raise TokenError("JWT is not yet valid")
    if exp < iat:
        raise TokenError("JWT 'exp' claim is missing or invalid")
    if max_lifetime is not None and exp - iat > max_lifetime:
        raise TokenError("JWT lifetime is too long")


def _check_issuer(claims: dict[str, Any], expected: str) -> None:
    if claims.get("iss") != expected:
        raise TokenError("Invalid JWT issuer")


def _check_audience(claims: dict[str, Any], accepted: Collection[str]) -> None:
    aud = claims.get("aud")
    values = aud if isinstance(aud, list) else [aud]
    if not values or not all(isinstance(v, str) for v in values):
        raise TokenError("Invalid JWT audience")
    if not any(v in accepted for v in values):
        raise TokenError("Invalid JWT audience")


def _string_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise TokenError(f"JWT '{name}' claim isn't a string")
    return value


def _signing_key_finder(purpose: str, session: Session) -> KeyFinder:
    return lambda kid: keys.verification_key(purpose, kid, session=session)


# -- tokens Aerovane issued ---------------------------------------------------------------------


def verify_id_token(token: str, *, audience: str, session: Session) -> Principal:
    """The principal of an ID token Aerovane issued for `audience` (never an access token)."""
    header, claims = _decode(
        token,
        alg=keys.ALGORITHMS[keys.TOKEN],
        find_key=_signing_key_finder(keys.TOKEN, session),
        skew=project.clock_skew(),
    )
    if header.get("typ") == ACCESS_TOKEN_TYPE or "token_use" in claims:
        raise TokenError("Not an ID token")
    _check_issuer(claims, project.issuer())
    _check_audience(claims, (audience,))
    return resolve_principal(
        _string_claim(claims, "sub"), _string_claim(claims, "email"), session=session
    )


def verify_access_token(
    token: str, *, session: Session, scope: str = project.CLOUD_PLATFORM
) -> Principal:
    """The principal of an access token Aerovane issued that grants `scope`."""
    header, claims = _decode(
        token,
        alg=keys.ALGORITHMS[keys.TOKEN],
        find_key=_signing_key_finder(keys.TOKEN, session),
        skew=project.clock_skew(),
    )
    if header.get("typ") != ACCESS_TOKEN_TYPE or claims.get("token_use") != ACCESS_TOKEN_USE:
        raise TokenError("Not an access token")
    _check_issuer(claims, project.issuer())
    _check_audience(claims, (project.issuer(),))
    granted = claims.get("scope")
    if not isinstance(granted, str) or scope not in granted.split():
        raise TokenError("Insufficient token scope")
    return resolve_principal(
        _string_claim(claims, "sub"), _string_claim(claims, "email"), session=session
    )


def verify_iap_assertion(token: str, *, audience: str, session: Session) -> tuple[str, str]:
    """(sub, email) of an assertion Aerovane's proxy signed for `audience`."""
    _header, claims = _decode(
        token,
        alg=keys.ALGORITHMS[keys.IAP],
        find_key=_signing_key_finder(keys.IAP, session),
        skew=IAP_CLOCK_SKEW,
        max_lifetime=project.IAP_ASSERTION_LIFETIME + 2 * IAP_CLOCK_SKEW,
    )
    _check_issuer(claims, project.IAP_ISSUER)
    _check_audience(claims, (audience,))
    sub = _string_claim(claims, "sub")
    email = _string_claim(claims, "email")
    _namespace, sep, unique_id = sub.rpartition(":")
    if not sep:
        raise TokenError("Invalid JWT subject")
    resolve_principal(unique_id, email, session=session)
    return sub, email


def verify_refresh_token(token: str, *, session: Session) -> models.User:
    """The active local user a refresh token was issued to, while their password is unchanged."""
    _header, claims = _decode(
        token,
        alg=keys.ALGORITHMS[keys.REFRESH],
        find_key=_signing_key_finder(keys.REFRESH, session),
        skew=project.clock_skew(),
    )
    if claims.get("token_use") != REFRESH_TOKEN_USE:
        raise TokenError("Not a refresh token")
    _check_issuer(claims, project.issuer())
    _check_audience(claims, (project.token_url(),))
    sub = _string_claim(claims, "sub")
    if not is_user_id(sub):
        raise TokenError("Invalid JWT subject")
    user = session.get(models.User, int(sub) - USER_ID_BASE)
    if user is None or not user.active or not user.password:
        raise TokenError("Principal is disabled or does not exist")
    if claims.get("pwd") != project.fingerprint(user.password):
        raise TokenError("Refresh token was revoked")
    if _string_claim(claims, "email").lower() != user.email.lower():
        raise TokenError("Principal is disabled or does not exist")
    return user


# -- assertions signed by service accounts ------------------------------------------------------


@dataclass(frozen=True)
class Assertion:
    """A verified JWT-bearer assertion: who signed it and what it asks for."""

    principal: Principal
    target_audience: str | None
    scope: str | None


def verify_assertion(token: str, *, session: Session) -> Assertion:
    """A JWT-bearer assertion signed with a live key of an enabled service account."""
    found: dict[str, models.ServiceAccountKey] = {}

    def find_key(kid: str) -> Any:
        row = session.scalar(
            select(models.ServiceAccountKey).where(models.ServiceAccountKey.key_id == kid)
        )
        if row is None or row.disabled:
            return None
        valid_before = row.valid_before
        if valid_before is not None and valid_before.timestamp() <= time.time():
            return None
        found["key"] = row
        return keys.load_public_key(row.public_key_pem)

    _header, claims = _decode(
        token,
        alg="RS256",
        find_key=find_key,
        skew=project.clock_skew(),
        max_lifetime=MAX_ASSERTION_LIFETIME,
    )
    account = found["key"].service_account
    if account.disabled:
        raise TokenError("Service account is disabled")
    _check_issuer(claims, account.email)
    sub = claims.get("sub")
    if sub is not None and sub != account.email:
        raise TokenError("Invalid JWT subject")
    _check_audience(claims, project.accepted_assertion_audiences())
    target_audience = claims.get("target_audience")
    scope = claims.get("scope")
    if target_audience is not None and (
        not isinstance(target_audience, str) or not target_audience
    ):
        raise TokenError("Invalid target_audience")
    if scope is not None and (not isinstance(scope, str) or not scope.strip()):
        raise TokenError("Invalid scope")
    return Assertion(principal_for_service_account(account), target_audience, scope)
