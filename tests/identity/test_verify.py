"""Token checks refuse everything that is not exactly what Aerovane issued (verify.py)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.identity import (
    Principal,
    TokenError,
    iap_audience,
    keys,
    project,
    sign_iap_assertion,
    verify_access_token,
    verify_iap_assertion,
    verify_id_token,
)
from aerovane.identity import service_accounts as sa
from aerovane.identity.principals import principal_for_service_account, principal_for_user
from aerovane.identity.tokens import mint_access_token, mint_id_token, mint_refresh_token
from aerovane.identity.verify import verify_refresh_token
from tests.identity.conftest import add_user

AUD = "my-audience"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


@pytest.fixture
def principal(db: Path) -> Principal:
    with create_session() as session:
        return principal_for_service_account(
            sa.create_service_account("robot-one", session=session)
        )


def _token_key() -> keys.ActiveKey:
    with create_session(readonly=True) as session:
        return keys.signing_key(keys.TOKEN, session=session)


def _claims(principal: Principal, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": project.issuer(),
        "aud": AUD,
        "sub": principal.unique_id,
        "azp": principal.unique_id,
        "email": principal.email,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(claims: dict[str, Any], key: keys.ActiveKey | None = None, **header: Any) -> str:
    key = key or _token_key()
    headers = {"kid": key.kid, **header}
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)


def _verify(token: Any, audience: str = AUD) -> Principal:
    with create_session(readonly=True) as session:
        return verify_id_token(token, audience=audience, session=session)


def _refused(token: Any, reason: str | None = None, audience: str = AUD) -> str:
    with pytest.raises(TokenError) as info:
        _verify(token, audience)
    if reason is not None:
        assert info.value.reason == reason
    if isinstance(token, str) and token:
        assert token not in info.value.reason
        assert token not in str(info.value)
    return info.value.reason


def test_a_well_formed_token_passes(principal: Principal) -> None:
    assert _verify(_signed(_claims(principal))) == principal


def test_alg_none_is_refused(principal: Principal) -> None:
    kid = _token_key().kid
    _refused(_compact({"alg": "none", "kid": kid, "typ": "JWT"}, _claims(principal)))
    _refused(_compact({"alg": "None", "kid": kid}, _claims(principal)), "JWT signature is invalid")


def test_hs256_signed_with_the_public_key_is_refused(principal: Principal) -> None:
    key = _token_key()
    public_pem = keys.public_key_pem(key.private_key).encode()
    header = {"alg": "HS256", "kid": key.kid, "typ": "JWT"}
    unsigned = _compact(header, _claims(principal)).rsplit(".", 1)[0]
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    _refused(f"{unsigned}.{_b64(signature)}", "JWT signature is invalid")


def test_rs256_header_with_a_wrong_signature_is_refused(principal: Principal) -> None:
    good = _signed(_claims(principal))
    other = _signed(_claims(principal, email_verified=False))
    forged = ".".join([*good.split(".")[:2], other.split(".")[2]])
    _refused(forged, "JWT signature is invalid")


def test_unknown_or_missing_kid_is_refused(principal: Principal) -> None:
    stranger = keys.ActiveKey("f" * 40, "RS256", "token", keys.generate_private_key("RS256"))
    _refused(_signed(_claims(principal), stranger), "Unknown JWT key id")
    key = _token_key()
    no_kid = jwt.encode(_claims(principal), key.private_key, algorithm="RS256")
    _refused(no_kid, "Unknown JWT key id")
    _refused(_signed(_claims(principal), key, kid="k" * 65), "Unknown JWT key id")


def test_a_key_of_another_purpose_is_refused(principal: Principal) -> None:
    with create_session(readonly=True) as session:
        iap_key = keys.signing_key(keys.IAP, session=session)
    _refused(_signed(_claims(principal), iap_key), "JWT signature is invalid")


def test_expired_and_not_yet_valid_tokens_are_refused(principal: Principal) -> None:
    now = int(time.time())
    skew = project.clock_skew()
    _refused(_signed(_claims(principal, iat=now - 7200, exp=now - skew - 1)), "Expired JWT")
    _refused(
        _signed(_claims(principal, iat=now + skew + 60, exp=now + 7200)), "JWT is not yet valid"
    )
    _refused(_signed(_claims(principal, nbf=now + skew + 60)), "JWT is not yet valid")
    _refused(_signed(_claims(principal, exp=None)), "JWT 'exp' claim is missing or invalid")
    _refused(_signed(_claims(principal, iat=None)), "JWT 'iat' claim is missing or invalid")
    _refused(_signed(_claims(principal, exp="soon")))


def test_wrong_audience_or_issuer_is_refused(principal: Principal) -> None:
    _refused(_signed(_claims(principal, aud="someone-else")), "Invalid JWT audience")
    _refused(_signed(_claims(principal, aud=[])), "Invalid JWT audience")
    _refused(_signed(_claims(principal, iss="https://accounts.google.com")), "Invalid JWT issuer")
    assert _verify(_signed(_claims(principal, aud=["x", AUD]))) == principal


def test_tokens_of_disabled_or_deleted_accounts_are_refused(principal: Principal) -> None:
    token = _signed(_claims(principal))
    with create_session() as session:
        sa.set_disabled(principal.email, True, session=session)
    _refused(token, "Principal is disabled or does not exist")
    with create_session() as session:
        sa.set_disabled(principal.email, False, session=session)
    assert _verify(token) == principal
    with create_session() as session:
        sa.delete_service_account(principal.email, session=session)
    _refused(token, "Principal is disabled or does not exist")


def test_subject_and_email_must_match_a_principal(principal: Principal) -> None:
    _refused(_signed(_claims(principal, email="other@example.com")))
    _refused(_signed(_claims(principal, sub="123")), "Invalid JWT subject")
    _refused(_signed(_claims(principal, sub="1" * 21)), "Principal is disabled or does not exist")
    _refused(_signed(_claims(principal, email=None)), "JWT 'email' claim isn't a string")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        "a.b.c.d",
        "é.é.é",
        "x" * 10_000,
        None,
        12,
        b"bytes.are.refused",
        "eyJhbGciOiJSUzI1NiJ9.!!!.abc",
        _b64(b"[1,2]") + ".e30.",
    ],
)
def test_malformed_or_oversized_input_is_refused(db: Path, token: Any) -> None:
    _refused(token, "Unable to parse JWT" if token != "é.é.é" else None)


def test_oversized_but_well_formed_token_is_refused(principal: Principal) -> None:
    _refused(_signed(_claims(principal, padding="x" * 9000)), "Unable to parse JWT")


def test_id_and_access_tokens_do_not_pass_as_each_other(principal: Principal) -> None:
    with create_session(readonly=True) as session:
        access, _ = mint_access_token(principal, [project.CLOUD_PLATFORM], session=session)
        id_token = mint_id_token(principal, project.issuer(), session=session)
        with pytest.raises(TokenError, match="Not an ID token"):
            verify_id_token(access, audience=project.issuer(), session=session)
        with pytest.raises(TokenError, match="Not an access token"):
            verify_access_token(id_token, session=session)
        # The claim alone or the header alone is not enough either.
        claims = jwt.decode(access, options={"verify_signature": False})
        with pytest.raises(TokenError, match="Not an access token"):
            verify_access_token(_signed(claims), session=session)
        with pytest.raises(TokenError, match="Not an ID token"):
            verify_id_token(_signed(claims), audience=project.issuer(), session=session)


def test_access_token_needs_the_scope(principal: Principal) -> None:
    with create_session(readonly=True) as session:
        token, _ = mint_access_token(principal, ["openid", "email"], session=session)
        with pytest.raises(TokenError, match="Insufficient token scope"):
            verify_access_token(token, session=session)
        assert verify_access_token(token, session=session, scope="email") == principal


def test_refresh_tokens_pass_nowhere_else(db: Path) -> None:
    add_user("alice", ["Viewer"], email="alice@example.com")
    with create_session(readonly=True) as session:
        user = session.scalar(select(models.User).where(models.User.username == "alice"))
        assert user is not None
        token = mint_refresh_token(user, session=session)
        assert verify_refresh_token(token, session=session).id == user.id
        with pytest.raises(TokenError, match="JWT signature is invalid"):
            verify_id_token(token, audience=project.token_url(), session=session)
        with pytest.raises(TokenError):
            verify_access_token(token, session=session)
        with pytest.raises(TokenError):
            verify_iap_assertion(token, audience=project.token_url(), session=session)


def test_local_user_tokens_follow_the_account(db: Path) -> None:
    add_user("bob", ["Viewer"], email="bob@example.com")
    with create_session(readonly=True) as session:
        user = session.scalar(select(models.User).where(models.User.username == "bob"))
        assert user is not None
        principal = principal_for_user(user)
        token = mint_id_token(principal, AUD, session=session)
    assert principal.unique_id == str(10**20 + user.id)
    assert _verify(token) == principal
    with create_session() as session:
        session.execute(update(models.User).where(models.User.id == user.id).values(active=False))
    _refused(token, "Principal is disabled or does not exist")
    with create_session() as session:
        session.execute(
            update(models.User)
            .where(models.User.id == user.id)
            .values(active=True, email="robert@example.com")
        )
    _refused(token, "Principal is disabled or does not exist")


# -- IAP assertions ------------------------------------------------------------------------------


def _iap(principal: Principal, audience: str | None = None) -> str:
    with create_session(readonly=True) as session:
        return sign_iap_assertion(
            principal,
            audience=audience or iap_audience(),
            namespace="accounts.google.com",
            session=session,
        )


def _iap_refused(token: str, audience: str | None = None) -> str:
    with create_session(readonly=True) as session, pytest.raises(TokenError) as info:
        verify_iap_assertion(token, audience=audience or iap_audience(), session=session)
    return info.value.reason


def test_iap_assertion_shape(principal: Principal) -> None:
    token = _iap(principal)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == "https://cloud.google.com/iap"
    assert claims["sub"] == f"accounts.google.com:{principal.unique_id}"
    assert claims["email"] == principal.email
    assert claims["exp"] - claims["iat"] == 600


def test_iap_assertion_refusals(principal: Principal) -> None:
    assert _iap_refused(_iap(principal), audience="/projects/1/apps/x") == "Invalid JWT audience"
    # An ID token (RS256, token key) is not an assertion.
    with create_session(readonly=True) as session:
        id_token = mint_id_token(principal, iap_audience(), session=session)
    assert _iap_refused(id_token) == "JWT signature is invalid"
    with create_session(readonly=True) as session:
        iap_key = keys.signing_key(keys.IAP, session=session)
    now = int(time.time())
    base = {
        "iss": "https://cloud.google.com/iap",
        "aud": iap_audience(),
        "sub": f"accounts.google.com:{principal.unique_id}",
        "email": principal.email,
        "iat": now,
        "exp": now + 600,
    }
    assert _iap_refused(_signed({**base, "exp": now - 31, "iat": now - 631}, iap_key)) == (
        "Expired JWT"
    )
    assert _iap_refused(_signed({**base, "exp": now + 3600}, iap_key)) == (
        "JWT lifetime is too long"
    )
    assert _iap_refused(_signed({**base, "iss": "https://evil"}, iap_key)) == "Invalid JWT issuer"
    assert _iap_refused(_signed({**base, "sub": "nocolon"}, iap_key)) == "Invalid JWT subject"
    with create_session() as session:
        sa.set_disabled(principal.email, True, session=session)
    assert _iap_refused(_iap(principal)) == "Principal is disabled or does not exist"


# -- key rotation as seen by verification --------------------------------------------------------


def test_tokens_of_rotated_keys_verify_until_the_key_expires(principal: Principal) -> None:
    token = _signed(_claims(principal))
    old_kid = jwt.get_unverified_header(token)["kid"]
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with create_session() as session:
        session.execute(
            update(models.SigningKey).where(models.SigningKey.kid == old_kid).values(created_at=old)
        )
    assert _token_key().kid != old_kid  # rotated
    assert _verify(token) == principal  # still published
    with create_session() as session:
        session.execute(
            update(models.SigningKey)
            .where(models.SigningKey.kid == old_kid)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    _refused(token, "Unknown JWT key id")
