"""Service accounts, keys and bindings as domain functions (service_accounts.py)."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.identity import service_accounts as sa
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound


def test_email_and_numeric_id(db: Path) -> None:
    with create_session() as session:
        account = sa.create_service_account("robot-one", display_name="Robot", session=session)
        described = sa.describe(account)
    assert account.email == "robot-one@aerovane.iam.gserviceaccount.com"
    assert re.fullmatch(r"1\d{20}", account.unique_id)
    assert described["oauth2ClientId"] == described["uniqueId"] == account.unique_id
    assert described["displayName"] == "Robot"
    assert described["name"] == f"projects/aerovane/serviceAccounts/{account.email}"


def test_ids_are_distinct_and_above_local_user_ids(db: Path) -> None:
    from aerovane.identity.principals import USER_ID_LIMIT

    with create_session() as session:
        ids = [
            sa.create_service_account(f"robot-{i:02d}", session=session).unique_id
            for i in range(20)
        ]
    assert len(set(ids)) == 20
    assert all(int(i) >= USER_ID_LIMIT and len(i) == 21 for i in ids)


@pytest.mark.parametrize(
    "name", ["short", "Robot-one", "1robot", "robot-", "robot_one", "a" * 31, "", "robot one"]
)
def test_invalid_names(db: Path, name: str) -> None:
    with create_session() as session, pytest.raises(BadRequest):
        sa.create_service_account(name, session=session)


def test_duplicates_and_missing(db: Path) -> None:
    with create_session() as session:
        sa.create_service_account("robot-one", session=session)
    with create_session() as session, pytest.raises(AlreadyExists):
        sa.create_service_account("robot-one", session=session)
    with create_session() as session, pytest.raises(NotFound):
        sa.get_service_account("ghost@aerovane.iam.gserviceaccount.com", session=session)


def test_long_project_ids(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.conftest import set_config

    set_config(monkeypatch, identity__project_id="p" * 63)
    with create_session() as session:
        account = sa.create_service_account("n" * 30, session=session)
    assert len(account.email) == 30 + 1 + 63 + len(".iam.gserviceaccount.com")
    set_config(monkeypatch, identity__project_id="p" * 64)
    with create_session() as session, pytest.raises(BadRequest):
        sa.create_service_account("robot-one", session=session)


def test_key_file(db: Path) -> None:
    with create_session() as session:
        account = sa.create_service_account("robot-one", session=session)
        created = sa.create_key(account.email, session=session)
    info = created.key_file
    assert set(info) == {
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
    }
    assert info["type"] == "service_account" and "universe_domain" not in info
    assert info["client_id"] == account.unique_id
    assert info["token_uri"] == "http://localhost:8080/token"
    assert re.fullmatch(r"[0-9a-f]{40}", info["private_key_id"])
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert "PRIVATE" not in repr(created)
    # Only the public half is stored, and it matches.
    with create_session(readonly=True) as session:
        (row,) = sa.list_keys(account.email, session=session)
        assert "PRIVATE" not in row.public_key_pem
        token = jwt.encode({"x": 1}, info["private_key"], algorithm="RS256")
        jwt.decode(token, row.public_key_pem, algorithms=["RS256"])


def test_deleting_an_account_removes_keys_and_bindings(db: Path) -> None:
    with create_session() as session:
        account = sa.create_service_account("robot-one", session=session)
        other = sa.create_service_account("robot-two", session=session)
        sa.create_key(account.email, session=session)
        sa.add_iam_policy_binding(
            account.email, member="user:a@example.com", role=sa.TOKEN_CREATOR_ROLE, session=session
        )
        sa.add_iam_policy_binding(
            other.email,
            member=f"serviceAccount:{account.email}",
            role=sa.TOKEN_CREATOR_ROLE,
            session=session,
        )
    with create_session() as session:
        sa.delete_service_account(account.email, session=session)
    with create_session(readonly=True) as session:
        for model in (models.ServiceAccountKey, models.IamBinding):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        assert [a.email for a in sa.list_service_accounts(session=session)] == [other.email]


def test_keys_delete(db: Path) -> None:
    with create_session() as session:
        account = sa.create_service_account("robot-one", session=session)
        first = sa.create_key(account.email, session=session).key.key_id
        second = sa.create_key(account.email, session=session).key.key_id
    with create_session() as session:
        sa.delete_key(first, account.email, session=session)
        with pytest.raises(NotFound):
            sa.delete_key(first, account.email, session=session)
    with create_session(readonly=True) as session:
        assert [k.key_id for k in sa.list_keys(account.email, session=session)] == [second]


def test_bindings(db: Path) -> None:
    with create_session() as session:
        account = sa.create_service_account("robot-one", session=session)
        sa.add_iam_policy_binding(
            account.email, member="user:A@Example.com", role=sa.TOKEN_CREATOR_ROLE, session=session
        )
        sa.add_iam_policy_binding(
            account.email, member="user:a@example.com", role=sa.TOKEN_CREATOR_ROLE, session=session
        )  # idempotent
        assert sa.may_create_tokens("user:a@EXAMPLE.com", account, session=session)
        assert not sa.may_create_tokens("user:b@example.com", account, session=session)
        policy = sa.get_iam_policy(account.email, session=session)
        assert policy["bindings"] == [
            {"members": ["user:a@example.com"], "role": sa.TOKEN_CREATOR_ROLE}
        ]
        with pytest.raises(BadRequest):
            sa.add_iam_policy_binding(
                account.email, member="a@example.com", role=sa.TOKEN_CREATOR_ROLE, session=session
            )
        with pytest.raises(BadRequest):
            sa.add_iam_policy_binding(
                account.email, member="user:a@example.com", role="roles/owner", session=session
            )
        sa.remove_iam_policy_binding(
            account.email, member="user:a@example.com", role=sa.TOKEN_CREATOR_ROLE, session=session
        )
        assert not sa.may_create_tokens("user:a@example.com", account, session=session)


def test_default_account_is_created_once(db: Path) -> None:
    with create_session() as session:
        first = sa.ensure_default_service_account(session=session)
    with create_session() as session:
        second = sa.ensure_default_service_account(session=session)
    assert first.unique_id == second.unique_id
    assert first.email == "aerovane-default@aerovane.iam.gserviceaccount.com"
