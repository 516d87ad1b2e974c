"""Minting the tokens Aerovane issues: ID tokens and access tokens (RS256, `token` keys), IAP
assertions (ES256, `iap` keys) and people's refresh tokens (ES256, unpublished `refresh` keys).

Access tokens are signed JWTs too, so the proxy checks them without a database write; they carry
header `typ: at+jwt` and claim `token_use: access`, which ID tokens never carry, and the two are
told apart by `aerovane.identity.verify`. This module signs; it does not decide who may have a
token (that is `aerovane.identity.grants`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import jwt
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.identity import keys, project
from aerovane.identity.principals import Principal, user_unique_id

ACCESS_TOKEN_TYPE = "at+jwt"
ACCESS_TOKEN_USE = "access"
REFRESH_TOKEN_USE = "refresh"


def _sign(claims: dict[str, object], key: keys.ActiveKey, *, typ: str = "JWT") -> str:
    return jwt.encode(
        claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ}
    )


def mint_id_token(principal: Principal, audience: str, *, session: Session) -> str:
    """An OIDC ID token as Google issues one for a service account (`sub` = `azp` = id)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": project.issuer(),
        "aud": audience,
        "azp": principal.unique_id,
        "sub": principal.unique_id,
        "email": principal.email,
        "email_verified": True,
        "iat": now,
        "exp": now + project.token_lifetime(),
    }
    return _sign(claims, keys.signing_key(keys.TOKEN, session=session))


def mint_access_token(
    principal: Principal, scopes: Sequence[str], *, session: Session
) -> tuple[str, int]:
    """(token, expires_in seconds)."""
    now = int(time.time())
    lifetime = project.token_lifetime()
    claims: dict[str, object] = {
        "iss": project.issuer(),
        "aud": project.issuer(),
        "sub": principal.unique_id,
        "azp": principal.unique_id,
        "email": principal.email,
        "scope": " ".join(dict.fromkeys(scopes)),
        "token_use": ACCESS_TOKEN_USE,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(12),
    }
    token = _sign(claims, keys.signing_key(keys.TOKEN, session=session), typ=ACCESS_TOKEN_TYPE)
    return token, lifetime


def mint_refresh_token(user: models.User, *, session: Session) -> str:
    """A 30-day token for `user`, bound to the current password hash: a new password (or an
    account without one) revokes it."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": project.issuer(),
        "aud": project.token_url(),
        "sub": user_unique_id(user),
        "email": user.email,
        "token_use": REFRESH_TOKEN_USE,
        "pwd": project.fingerprint(user.password or ""),
        "iat": now,
        "exp": now + keys.REFRESH_TOKEN_LIFETIME,
        "jti": secrets.token_urlsafe(12),
    }
    return _sign(claims, keys.signing_key(keys.REFRESH, session=session))


def sign_iap_assertion(
    principal: Principal, *, audience: str, namespace: str, session: Session
) -> str:
    """The `X-Goog-IAP-JWT-Assertion` the proxy forwards upstream (ES256, 10 minutes)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": project.IAP_ISSUER,
        "aud": audience,
        "sub": f"{namespace}:{principal.unique_id}",
        "email": principal.email,
        "iat": now,
        "exp": now + project.IAP_ASSERTION_LIFETIME,
        "identity_source": "GOOGLE",
    }
    return _sign(claims, keys.signing_key(keys.IAP, session=session))
