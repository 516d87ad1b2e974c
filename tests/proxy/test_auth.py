"""Authentication at the proxy, IAP's way: redirects and 401s for no credentials, ID tokens and
access tokens from the real token service, IAP's refusal bodies, and the access policy (403)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from aerovane.identity import oauth_client_id
from tests.proxy.conftest import (
    CLOUD_PLATFORM,
    Account,
    access_token_for,
    bearer,
    id_token_for,
    make_account,
    set_config,
)

GENERATED = "x-goog-iap-generated-response"


def _iap_refusal(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.text == f"Invalid IAP credentials: {reason}"
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers[GENERATED] == "true"


# -- no credentials -------------------------------------------------------------------------------


def test_browser_get_is_redirected_to_the_sign_in_page(proxy_url: str) -> None:
    response = httpx.get(f"{proxy_url}/api/v1/dags?limit=5", headers={"Accept": "text/html"})
    _iap_refusal(response, 302, "empty token")
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == proxy_url
    assert location.path == "/_aerovane/login"
    query = parse_qs(location.query)
    assert query["client_id"] == [oauth_client_id()]
    assert query["redirect_uri"] == [f"{proxy_url}/api/v1/dags?limit=5"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["openid email"]
    assert "scope=openid%20email" in location.query
    assert query["state"][0]
    nonce_cookie = response.headers["set-cookie"]
    assert nonce_cookie.startswith("GCP_IAP_XSRF_NONCE_")
    assert "HttpOnly" in nonce_cookie and "SameSite=Lax" in nonce_cookie


def test_get_client_id_the_composer_way(proxy_url: str) -> None:
    """composer/rest/get_client_id.py: requests.get(allow_redirects=False), read Location."""
    response = httpx.get(proxy_url, follow_redirects=False)  # httpx sends Accept: */*
    assert response.status_code == 302
    query = urlsplit(response.headers["location"]).query
    client_id = parse_qs(query)["client_id"][0]
    assert client_id.endswith(".apps.googleusercontent.com")
    assert client_id == oauth_client_id()


def test_the_documented_curl_recipe(proxy_url: str) -> None:
    recipe = (
        f'curl -v {proxy_url} 2>&1 >/dev/null | grep -o "client_id\\=[A-Za-z0-9-]*'
        '\\.apps\\.googleusercontent\\.com"'
    )
    output = subprocess.run(
        ["bash", "-c", recipe], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert output.strip() == f"client_id={oauth_client_id()}"


@pytest.mark.parametrize(
    ("method", "accept"),
    [
        ("POST", "text/html"),
        ("POST", "*/*"),
        ("DELETE", "*/*"),
        ("GET", "application/json"),
        ("GET", "application/json, text/html;q=0"),
    ],
)
def test_non_redirectable_requests_get_401(proxy_url: str, method: str, accept: str) -> None:
    response = httpx.request(method, f"{proxy_url}/api/v1/dags", headers={"Accept": accept})
    _iap_refusal(response, 401, "empty token")


def test_basic_auth_is_no_iap_credential(proxy_url: str) -> None:
    response = httpx.get(
        f"{proxy_url}/api/v1/dags", auth=("admin", "pw"), headers={"Accept": "application/json"}
    )
    _iap_refusal(response, 401, "empty token")
    empty = httpx.get(f"{proxy_url}/api/v1/dags", headers={"Authorization": "Bearer"})
    _iap_refusal(empty, 401, "empty token")


# -- bearer tokens --------------------------------------------------------------------------------


def test_id_token_end_to_end(proxy_url: str, account: Account) -> None:
    token = id_token_for(proxy_url, account)  # the token endpoint is public at the proxy
    response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
    # Registered by the IAP backend with the default registration role (Op): may list DAGs.
    assert response.status_code == 200, response.text
    assert response.json() == {"dags": [], "total_entries": 0}
    # Same through Proxy-Authorization, the header for apps that use Authorization themselves.
    proxied = httpx.get(
        f"{proxy_url}/api/v1/dags", headers={"Proxy-Authorization": f"Bearer {token}"}
    )
    assert proxied.status_code == 200


def test_access_token_end_to_end(proxy_url: str, account: Account) -> None:
    token = access_token_for(proxy_url, account)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
    assert response.status_code == 200, response.text
    narrow = access_token_for(proxy_url, account, scope="https://www.googleapis.com/auth/email")
    refused = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(narrow))
    _iap_refusal(refused, 401, "Insufficient token scope")


def test_user_registered_by_the_backend_gets_the_configured_role(
    proxy_url: str, account: Account, monkeypatch: Any
) -> None:
    set_config(monkeypatch, api__composer_auth_user_registration_role="Viewer")
    token = id_token_for(proxy_url, account)
    assert httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token)).status_code == 200
    post = httpx.post(f"{proxy_url}/api/v1/pools", headers=bearer(token), json={})
    assert post.status_code == 403  # authenticated, but a Viewer
    from aerovane.auth.users import find_user
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        user = find_user(f"accounts.google.com:{account.unique_id}", session=session)
        assert user is not None
        assert [r.name for r in user.roles] == ["Viewer"]
        assert (user.email, user.first_name, user.last_name) == (account.email, account.email, "-")


def test_garbage_bearer(proxy_url: str) -> None:
    for token in ("garbage", "ya29.a0AfH6SMBx", "a.b.c", "x" * 9000):
        response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
        if len(token) > 8192:
            assert response.status_code == 431
        else:
            _iap_refusal(response, 401, "Unable to parse JWT")


def test_wrong_audience(proxy_url: str, account: Account) -> None:
    token = id_token_for(proxy_url, account, audience="https://other.example.com")
    response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
    _iap_refusal(
        response,
        401,
        "JWT audience doesn't match this application ('aud' claim (https://other.example.com) "
        f"doesn't match expected value ({oauth_client_id()}))",
    )


def test_forged_tokens(proxy_url: str, account: Account) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    genuine = id_token_for(proxy_url, account)
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    # Claims re-signed with another key under the genuine kid.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": header["kid"]})
    # A key id the service never published.
    unknown_kid = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "not-ours"})
    # Altered claims with the genuine signature.
    head, _, signature = genuine.split(".")
    body = jwt.utils.base64url_encode(
        json.dumps({**claims, "email": "admin@example.com"}).encode()
    ).decode()
    tampered = f"{head}.{body}.{signature}"
    # alg "none" and HS256 keyed with the public key.
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": header["kid"]})
    for token in (forged, unknown_kid, tampered, unsigned):
        response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
        _iap_refusal(response, 401, "JWT signature is invalid")


def test_expired_token(proxy_url: str, account: Account, monkeypatch: Any) -> None:
    from aerovane.db.engine import create_session
    from aerovane.identity.principals import Principal
    from aerovane.identity.tokens import mint_id_token

    principal = Principal("serviceAccount", account.email, account.unique_id)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 7200)
    with create_session() as session:
        token = mint_id_token(principal, oauth_client_id(), session=session)
    monkeypatch.setattr(time, "time", real_time)
    response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
    _iap_refusal(response, 401, "Expired JWT")


def test_disabled_account_is_refused_at_once(proxy_url: str, account: Account) -> None:
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    token = id_token_for(proxy_url, account)
    assert httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token)).status_code == 200
    with create_session() as session:
        sa.set_disabled(account.email, True, session=session)
    response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
    _iap_refusal(response, 401, "Principal is disabled or does not exist")


# -- the access policy ----------------------------------------------------------------------------


def test_policy_from_allowed_members(proxy_url: str, account: Account, monkeypatch: Any) -> None:
    token = id_token_for(proxy_url, account)
    set_config(monkeypatch, proxy__allowed_members="user:someone@example.com")
    denied = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
    assert denied.status_code == 403
    assert denied.headers[GENERATED] == "true"
    assert "You don't have access" in denied.text
    set_config(monkeypatch, proxy__allowed_members=f"serviceAccount:{account.email.upper()}")
    assert httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token)).status_code == 200
    # `domain:` is for people; a service account's domain does not admit it.
    domain = account.email.split("@")[1]
    set_config(monkeypatch, proxy__allowed_members=f"domain:{domain}")
    assert httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token)).status_code == 403
    set_config(monkeypatch, proxy__allowed_members="bogus:entry, allAuthenticatedUsers")
    assert httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token)).status_code == 200


def test_policy_from_iam_bindings(proxy_url: str, monkeypatch: Any) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session

    first, second = make_account("robot-one"), make_account("robot-two")
    set_config(monkeypatch, proxy__allowed_members="")
    with create_session() as session:
        session.add(
            models.IamBinding(
                resource="iap",
                role="roles/iap.httpsResourceAccessor",
                member=f"serviceAccount:{first.email}",
            )
        )
        # The right member on another role or resource grants nothing here.
        session.add(
            models.IamBinding(
                resource="iap", role="roles/viewer", member=f"serviceAccount:{second.email}"
            )
        )
    for acct, status in ((first, 200), (second, 403)):
        token = id_token_for(proxy_url, acct)
        assert httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token)).status_code == status


def test_authentication_comes_before_the_policy(proxy_url: str, monkeypatch: Any) -> None:
    set_config(monkeypatch, proxy__allowed_members="")
    response = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer("garbage"))
    _iap_refusal(response, 401, "Unable to parse JWT")


def test_identity_mode(proxy_url: str, account: Account) -> None:
    token = id_token_for(proxy_url, account)
    response = httpx.get(f"{proxy_url}/anything?gcp-iap-mode=IDENTITY", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "email": f"accounts.google.com:{account.email}",
        "sub": f"accounts.google.com:{account.unique_id}",
    }


# -- what is public and what is not --------------------------------------------------------------


def test_token_service_routes_are_public(proxy_url: str) -> None:
    for path in (
        "/.well-known/openid-configuration",
        "/oauth2/v3/certs",
        "/oauth2/v1/certs",
        "/iap/verify/public_key",
        "/iap/verify/public_key-jwk",
    ):
        response = httpx.get(f"{proxy_url}{path}", headers={"Accept": "application/json"})
        assert response.status_code == 200, path
    token = httpx.post(f"{proxy_url}/token", data={"grant_type": "password"})
    assert token.status_code == 400 and token.json()["error"] == "invalid_request"


def test_metadata_server_is_not_exposed(proxy_url: str, account: Account) -> None:
    token = id_token_for(proxy_url, account)
    flavor = {"Metadata-Flavor": "Google"}
    for path in (
        "/computeMetadata/v1/instance/service-accounts/default/token",
        "/computeMetadata/v1/project/project-id",
        "/computeMetadata",
    ):
        assert httpx.get(f"{proxy_url}{path}", headers=flavor).status_code == 404
        assert (
            httpx.get(f"{proxy_url}{path}", headers={**flavor, **bearer(token)}).status_code == 404
        )
    # The metadata ping at the root is relayed like any request, and refused as relayed.
    root = httpx.get(f"{proxy_url}/", headers={**flavor, **bearer(token)})
    assert root.headers.get("metadata-flavor") != "Google" or root.status_code != 200


def test_client_id_shape(proxy_url: str) -> None:
    assert re.fullmatch(r"\d{12}-[a-z0-9]{32}\.apps\.googleusercontent\.com", oauth_client_id())


def test_cloud_platform_constant() -> None:
    from aerovane.identity import CLOUD_PLATFORM as REAL

    assert REAL == CLOUD_PLATFORM


@pytest.fixture(autouse=True)
def _home(db: Path) -> None:
    return None
