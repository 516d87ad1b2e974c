"""The functions aerovane.proxy and the IAP auth backend rely on (docs/contracts/identity.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aerovane.db.engine import create_session
from aerovane.identity import (
    CLOUD_PLATFORM,
    Principal,
    TokenError,
    iap_audience,
    oauth_client_id,
    project_number,
    sign_iap_assertion,
    verify_access_token,
    verify_iap_assertion,
    verify_id_token,
)
from aerovane.identity import service_accounts as sa
from aerovane.identity.tokens import mint_access_token, mint_id_token


def _account(name: str = "robot-one") -> Principal:
    from aerovane.identity.principals import principal_for_service_account

    with create_session() as session:
        return principal_for_service_account(sa.create_service_account(name, session=session))


def test_derived_names_are_stable_and_well_formed(aerovane_home: Path) -> None:
    assert re.fullmatch(r"[1-9]\d{11}", project_number())
    assert re.fullmatch(
        rf"{project_number()}-[a-z0-9]{{32}}\.apps\.googleusercontent\.com", oauth_client_id()
    )
    assert re.fullmatch(
        rf"/projects/{project_number()}/global/backendServices/\d{{19}}", iap_audience()
    )
    assert oauth_client_id() == oauth_client_id()


def test_id_token_round_trip(db: Path) -> None:
    principal = _account()
    with create_session(readonly=True) as session:
        token = mint_id_token(principal, oauth_client_id(), session=session)
        assert verify_id_token(token, audience=oauth_client_id(), session=session) == principal
        with pytest.raises(TokenError):
            verify_id_token(token, audience="other", session=session)
        with pytest.raises(TokenError):
            verify_access_token(token, session=session)


def test_access_token_round_trip(db: Path) -> None:
    principal = _account()
    with create_session(readonly=True) as session:
        token, expires_in = mint_access_token(principal, [CLOUD_PLATFORM], session=session)
        assert expires_in == 3600
        assert verify_access_token(token, session=session) == principal
        with pytest.raises(TokenError):
            verify_id_token(token, audience=oauth_client_id(), session=session)


def test_iap_assertion_round_trip(db: Path) -> None:
    principal = _account()
    with create_session() as session:
        token = sign_iap_assertion(
            principal, audience=iap_audience(), namespace="accounts.google.com", session=session
        )
    with create_session(readonly=True) as session:
        sub, email = verify_iap_assertion(token, audience=iap_audience(), session=session)
    assert sub == f"accounts.google.com:{principal.unique_id}"
    assert email == principal.email
