"""POST /token over HTTP: the JWT-bearer grant (what google-auth sends), people's password and
refresh-token grants, impersonation, and every refusal as an OAuth JSON error."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.identity import (
    CLOUD_PLATFORM,
    oauth_client_id,
    project,
    verify_access_token,
    verify_id_token,
)
from aerovane.identity import service_accounts as sa
from tests.identity.conftest import add_user

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"


def assertion(info: dict[str, Any], *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": info["client_email"], "aud": GOOGLE_TOKEN_URL, "iat": now, "exp": now + 3600}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(
        body,
        info["private_key"],
        algorithm="RS256",
        headers={"kid": info["private_key_id"], **(headers or {})},
    )


@pytest.fixture
def post(server_url: str) -> Callable[..., httpx.Response]:
    def send(form: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{server_url}/token", data=form, timeout=30, **kwargs)

    return send


@pytest.fixture
def account(server_url: str, make_account: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return make_account("robot-one")


def _error(response: httpx.Response, status: int = 400) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "error_description"}
    return body


# -- the JWT-bearer grant ------------------------------------------------------------------------


def test_target_audience_gets_an_id_token(
    post: Callable[..., httpx.Response], account: dict[str, Any]
) -> None:
    response = post(
        {"grant_type": JWT_BEARER, "assertion": assertion(account, target_audience="aud-1")}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"id_token"}
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    lifetime = project.token_lifetime()
    assert claims["aud"] == "aud-1" and claims["exp"] - claims["iat"] == lifetime
    with create_session(readonly=True) as session:
        principal = verify_id_token(body["id_token"], audience="aud-1", session=session)
    assert principal.email == account["client_email"]


def test_scope_gets_an_access_token(
    post: Callable[..., httpx.Response], account: dict[str, Any]
) -> None:
    response = post(
        {"grant_type": JWT_BEARER, "assertion": assertion(account, scope=CLOUD_PLATFORM)}
    )
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == project.token_lifetime()
    with create_session(readonly=True) as session:
        assert verify_access_token(body["access_token"], session=session).kind == "serviceAccount"


def test_our_own_token_url_is_an_accepted_audience(
    post: Callable[..., httpx.Response], account: dict[str, Any]
) -> None:
    token = assertion(account, aud=account["token_uri"], target_audience="x")
    assert post({"grant_type": JWT_BEARER, "assertion": token}).status_code == 200


def test_neither_scope_nor_audience_is_invalid_scope(
    post: Callable[..., httpx.Response], account: dict[str, Any]
) -> None:
    body = _error(post({"grant_type": JWT_BEARER, "assertion": assertion(account)}))
    assert body["error"] == "invalid_scope"


def _refusal(
    post: Callable[..., httpx.Response], token: str, secrets: list[str] | None = None
) -> str:
    body = _error(post({"grant_type": JWT_BEARER, "assertion": token}))
    assert body["error"] == "invalid_grant"
    raw = json.dumps(body)
    assert token not in raw
    assert all(part not in raw for part in token.split(".") if len(part) > 8)
    for secret in secrets or []:
        assert secret not in raw
    return body["error_description"]


def test_assertion_refusals(
    post: Callable[..., httpx.Response],
    account: dict[str, Any],
    no_secrets_logged: list[str],
) -> None:
    no_secrets_logged.append(account["private_key"])
    now = int(time.time())
    skew = project.clock_skew()
    cases = {
        "wrong aud": assertion(account, aud="https://example.com/token", target_audience="x"),
        "wrong iss": assertion(account, iss="other@x.iam.gserviceaccount.com", target_audience="x"),
        "expired": assertion(account, iat=now - 4000, exp=now - skew - 1, target_audience="x"),
        "future": assertion(account, iat=now + skew + 100, exp=now + 3000, target_audience="x"),
        "too long": assertion(account, exp=now + 7200, target_audience="x"),
        "sub": assertion(account, sub="someone@example.com", target_audience="x"),
        "unknown kid": assertion(account, headers={"kid": "0" * 40}, target_audience="x"),
    }
    reasons = {name: _refusal(post, token) for name, token in cases.items()}
    no_secrets_logged.extend(cases.values())
    assert reasons == {
        "wrong aud": "Invalid JWT audience",
        "wrong iss": "Invalid JWT issuer",
        "expired": "Expired JWT",
        "future": "JWT is not yet valid",
        "too long": "JWT lifetime is too long",
        "sub": "Invalid JWT subject",
        "unknown kid": "Unknown JWT key id",
    }


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_times_are_invalid_grant(
    post: Callable[..., httpx.Response], account: dict[str, Any], claim: str, value: float
) -> None:
    """Python's JSON parser reads NaN and Infinity; they used to reach `int()` and answer 500."""
    token = assertion(account, target_audience="x", **{claim: value})
    assert _refusal(post, token) == f"JWT '{claim}' claim is missing or invalid"


def test_unsigned_and_hmac_assertions_are_refused(
    post: Callable[..., httpx.Response], account: dict[str, Any]
) -> None:
    good = assertion(account, target_audience="x")
    head, body, _ = good.split(".")
    none_head = jwt.utils.base64url_encode(
        json.dumps({"alg": "none", "kid": account["private_key_id"]}).encode()
    ).decode()
    assert _refusal(post, f"{none_head}.{body}.") == "JWT signature is invalid"
    with create_session(readonly=True) as session:
        row = session.scalar(
            select(models.ServiceAccountKey).where(
                models.ServiceAccountKey.key_id == account["private_key_id"]
            )
        )
        assert row is not None
        public_pem = row.public_key_pem
    import hashlib
    import hmac

    hs_head = jwt.utils.base64url_encode(
        json.dumps({"alg": "HS256", "kid": account["private_key_id"]}).encode()
    ).decode()
    signature = hmac.new(public_pem.encode(), f"{hs_head}.{body}".encode(), hashlib.sha256)
    forged = f"{hs_head}.{body}.{jwt.utils.base64url_encode(signature.digest()).decode()}"
    assert _refusal(post, forged) == "JWT signature is invalid"
    assert _refusal(post, f"{head}.{body}.AAAA") == "JWT signature is invalid"


def test_deleted_key_disabled_key_and_account_states(
    post: Callable[..., httpx.Response],
    account: dict[str, Any],
    make_account: Callable[..., dict[str, Any]],
) -> None:
    email = account["client_email"]
    token = assertion(account, target_audience="x")
    with create_session() as session:
        sa.set_disabled(email, True, session=session)
    assert _refusal(post, token) == "Service account is disabled"
    with create_session() as session:
        sa.set_disabled(email, False, session=session)
    assert post({"grant_type": JWT_BEARER, "assertion": token}).status_code == 200

    with create_session() as session:
        session.execute(
            update(models.ServiceAccountKey)
            .where(models.ServiceAccountKey.key_id == account["private_key_id"])
            .values(disabled=True)
        )
    assert _refusal(post, token) == "Unknown JWT key id"

    second = make_account("robot-two")
    with create_session() as session:
        sa.delete_key(second["private_key_id"], second["client_email"], session=session)
    assert _refusal(post, assertion(second, target_audience="x")) == "Unknown JWT key id"

    third = make_account("robot-three")
    with create_session() as session:
        sa.delete_service_account(third["client_email"], session=session)
    assert _refusal(post, assertion(third, target_audience="x")) == "Unknown JWT key id"


def test_malformed_requests(post: Callable[..., httpx.Response], server_url: str) -> None:
    assert _error(post({"assertion": "x"}))["error"] == "invalid_request"
    assert _error(post({"grant_type": "client_credentials"}))["error"] == "unsupported_grant_type"
    assert _error(post({"grant_type": JWT_BEARER}))["error"] == "invalid_request"
    assert _refusal(post, "not-a-jwt") == "Unable to parse JWT"
    assert _refusal(post, "x.y." + "z" * 8000) == "Unable to parse JWT"
    too_long = _error(post({"grant_type": JWT_BEARER, "assertion": "x" * 9000}))
    assert too_long["error_description"] == "A request parameter is too long"
    json_body = httpx.post(f"{server_url}/token", json={"grant_type": JWT_BEARER}, timeout=30)
    assert _error(json_body)["error"] == "invalid_request"
    huge = post(
        content=b"grant_type=" + b"a" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert _error(huge)["error_description"] == "Request body too large"
    duplicate = post(
        content=b"grant_type=password&grant_type=password",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert _error(duplicate)["error"] == "invalid_request"
    bad_utf8 = post(
        content=b"grant_type=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert _error(bad_utf8)["error"] in ("invalid_request", "unsupported_grant_type")


# -- people: password and refresh-token grants ---------------------------------------------------


@pytest.fixture
def alice(server_url: str) -> dict[str, str]:
    add_user("alice", ["Viewer"], password="alice-pw", email="alice@example.com")
    return {"username": "alice", "password": "alice-pw"}


def _login(post: Callable[..., httpx.Response], who: dict[str, str]) -> str:
    response = post({"grant_type": "password", **who})
    assert response.status_code == 200, response.text
    return response.json()["refresh_token"]


def test_password_then_refresh_token(
    post: Callable[..., httpx.Response],
    alice: dict[str, str],
    no_secrets_logged: list[str],
) -> None:
    refresh = _login(post, alice)
    no_secrets_logged.extend([refresh, alice["password"]])
    claims = jwt.decode(refresh, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    got = post(
        {"grant_type": "refresh_token", "refresh_token": refresh, "audience": oauth_client_id()}
    ).json()
    no_secrets_logged.append(got["id_token"])
    with create_session(readonly=True) as session:
        principal = verify_id_token(got["id_token"], audience=oauth_client_id(), session=session)
    assert principal.kind == "user" and principal.email == "alice@example.com"
    access = post(
        {"grant_type": "refresh_token", "refresh_token": refresh, "scope": CLOUD_PLATFORM}
    ).json()
    assert access["token_type"] == "Bearer"
    with create_session(readonly=True) as session:
        assert verify_access_token(access["access_token"], session=session) == principal


def test_wrong_password_unknown_or_inactive_user(
    post: Callable[..., httpx.Response], alice: dict[str, str], no_secrets_logged: list[str]
) -> None:
    no_secrets_logged.append("wrong-pw-123")
    for form in (
        {"username": "alice", "password": "wrong-pw-123"},
        {"username": "nobody", "password": "wrong-pw-123"},
    ):
        body = _error(post({"grant_type": "password", **form}))
        assert body == {
            "error": "invalid_grant",
            "error_description": "Invalid username or password",
        }
    refresh = _login(post, alice)
    with create_session() as session:
        session.execute(
            update(models.User).where(models.User.username == "alice").values(active=False)
        )
    assert _error(post({"grant_type": "password", **alice}))["error"] == "invalid_grant"
    body = _error(post({"grant_type": "refresh_token", "refresh_token": refresh, "audience": "x"}))
    assert body["error_description"] == "Principal is disabled or does not exist"


def test_a_password_change_revokes_refresh_tokens(
    post: Callable[..., httpx.Response], alice: dict[str, str]
) -> None:
    from aerovane.auth.passwords import hash_password

    refresh = _login(post, alice)
    with create_session() as session:
        session.execute(
            update(models.User)
            .where(models.User.username == "alice")
            .values(password=hash_password("new-password"))
        )
    body = _error(post({"grant_type": "refresh_token", "refresh_token": refresh, "audience": "x"}))
    assert body == {"error": "invalid_grant", "error_description": "Refresh token was revoked"}
    assert _login(post, {"username": "alice", "password": "new-password"})


def test_refresh_grant_refusals(
    post: Callable[..., httpx.Response], alice: dict[str, str], account: dict[str, Any]
) -> None:
    refresh = _login(post, alice)
    assert _error(post({"grant_type": "refresh_token", "refresh_token": refresh}))["error"] == (
        "invalid_scope"
    )
    # An ID token is not a refresh token.
    id_token = post(
        {"grant_type": JWT_BEARER, "assertion": assertion(account, target_audience="x")}
    ).json()["id_token"]
    body = _error(post({"grant_type": "refresh_token", "refresh_token": id_token, "audience": "x"}))
    assert body["error"] == "invalid_grant"
    assert id_token not in json.dumps(body)


def test_impersonation_needs_a_token_creator_binding(
    post: Callable[..., httpx.Response], alice: dict[str, str], account: dict[str, Any]
) -> None:
    refresh = _login(post, alice)
    email = account["client_email"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "audience": "x",
        "impersonate": email,
    }
    assert _error(post(form), 403)["error"] == "access_denied"
    assert _error(post({**form, "impersonate": "ghost@x.iam.gserviceaccount.com"}), 403)
    with create_session() as session:
        sa.add_iam_policy_binding(
            email, member="user:Alice@Example.com", role=sa.TOKEN_CREATOR_ROLE, session=session
        )
    token = post(form).json()["id_token"]
    with create_session(readonly=True) as session:
        principal = verify_id_token(token, audience="x", session=session)
    assert principal.email == email and principal.kind == "serviceAccount"
    with create_session() as session:
        sa.set_disabled(email, True, session=session)
    assert _error(post(form), 403)["error"] == "invalid_grant"


def test_long_emails_work(
    server_url: str,
    post: Callable[..., httpx.Response],
    monkeypatch: pytest.MonkeyPatch,
    make_account: Callable[..., dict[str, Any]],
) -> None:
    from tests.api.conftest import set_config

    long_project = "p" + "-long-project" * 4 + "x" * 10
    assert len(long_project) == 63
    set_config(monkeypatch, identity__project_id=long_project, identity__public_url=server_url)
    info = make_account("a" * 30)
    assert len(info["client_email"]) > 64
    token = post(
        {"grant_type": JWT_BEARER, "assertion": assertion(info, target_audience="x")}
    ).json()["id_token"]
    with create_session(readonly=True) as session:
        assert verify_id_token(token, audience="x", session=session).email == info["client_email"]


def test_database_holds_no_private_key(
    account: dict[str, Any], post: Callable[..., httpx.Response]
) -> None:
    post({"grant_type": JWT_BEARER, "assertion": assertion(account, target_audience="x")})
    body = "".join(line for line in account["private_key"].splitlines() if "-----" not in line)[:64]
    with create_session(readonly=True) as session:
        for model in (models.ServiceAccountKey, models.ServiceAccount, models.SigningKey):
            for row in session.scalars(select(model)):
                for column in model.__table__.columns:
                    value = getattr(row, column.key)
                    assert not (isinstance(value, str) and body in value)
        for row in session.scalars(select(models.SigningKey)):
            assert row.is_encrypted and "PRIVATE KEY" not in row.private_key


def test_unknown_path_and_method(server_url: str) -> None:
    assert httpx.get(f"{server_url}/token", timeout=30).status_code == 405


def test_oversized_content_length_header(server_url: str, db: Path) -> None:
    response = httpx.post(
        f"{server_url}/token",
        content=b"grant_type=x",
        headers={"content-type": "application/x-www-form-urlencoded", "content-length": "12"},
        timeout=30,
    )
    assert _error(response)["error"] == "unsupported_grant_type"
