"""What the upstream receives: identity headers and a verifiable assertion, no client
credentials meant for the proxy; in-process and over HTTP (streamed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jwt

from aerovane.db.engine import create_session
from aerovane.identity import iap_audience, verify_iap_assertion
from tests.proxy.conftest import (
    Account,
    Servers,
    bearer,
    echo_app,
    id_token_for,
    make_account,
    set_config,
)


def _echo(url: str, token: str, **kwargs: Any) -> dict[str, Any]:
    headers = {**bearer(token), **kwargs.pop("headers", {})}
    response = httpx.request(kwargs.pop("method", "GET"), url, headers=headers, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def test_assertion_verifies_and_is_reused(echo_proxy_url: str, account: Account) -> None:
    token = id_token_for(echo_proxy_url, account)
    first = _echo(f"{echo_proxy_url}/a", token)["headers"]["x-goog-iap-jwt-assertion"][0]
    second = _echo(f"{echo_proxy_url}/b", token)["headers"]["x-goog-iap-jwt-assertion"][0]
    assert first == second  # cached per principal: the hot path signs nothing
    with create_session(readonly=True) as session:
        sub, email = verify_iap_assertion(first, audience=iap_audience(), session=session)
    assert (sub, email) == (f"accounts.google.com:{account.unique_id}", account.email)
    header = jwt.get_unverified_header(first)
    claims = jwt.decode(first, options={"verify_signature": False})
    assert header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == "https://cloud.google.com/iap"
    assert claims["exp"] - claims["iat"] == 600
    other = make_account("robot-two")
    theirs = _echo(f"{echo_proxy_url}/a", id_token_for(echo_proxy_url, other))["headers"]
    assert theirs["x-goog-iap-jwt-assertion"][0] != first


def test_identity_namespace_is_configurable(
    echo_proxy_url: str, account: Account, monkeypatch: Any
) -> None:
    token = id_token_for(echo_proxy_url, account)
    set_config(monkeypatch, proxy__identity_namespace="example.org")
    headers = _echo(f"{echo_proxy_url}/", token)["headers"]
    assert headers["x-goog-authenticated-user-email"] == [f"example.org:{account.email}"]
    assert headers["x-goog-authenticated-user-id"] == [f"example.org:{account.unique_id}"]
    claims = jwt.decode(headers["x-goog-iap-jwt-assertion"][0], options={"verify_signature": False})
    assert claims["sub"] == f"example.org:{account.unique_id}"


def test_credentials_for_the_proxy_stay_at_the_proxy(echo_proxy_url: str, account: Account) -> None:
    token = id_token_for(echo_proxy_url, account)
    echoed = _echo(
        f"{echo_proxy_url}/x?y=1",
        token,
        headers={
            "Cookie": "GCP_IAP_AUTH_TOKEN=abc; theme=dark; GCP_IAP_XSRF_NONCE_x=1; session=s1",
            "X-Forwarded-For": "10.9.9.9",
            "Forwarded": "for=10.9.9.9",
        },
    )
    headers = echoed["headers"]
    assert "authorization" not in headers
    assert headers["cookie"] == ["theme=dark; session=s1"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]  # the client the allow-list judged
    assert headers["x-forwarded-proto"] == ["http"]
    assert "forwarded" not in headers
    assert echoed["query"] == "y=1" and echoed["path"] == "/x"
    # With the IAP credential in Proxy-Authorization, the app's own Authorization passes.
    app_auth = httpx.get(
        f"{echo_proxy_url}/x",
        headers={"Proxy-Authorization": f"Bearer {token}", "Authorization": "Basic YTpi"},
    ).json()["headers"]
    assert app_auth["authorization"] == ["Basic YTpi"]
    assert "proxy-authorization" not in app_auth
    only_ours = _echo(f"{echo_proxy_url}/x", token, headers={"Cookie": "GCP_IAP_AUTH_TOKEN=a"})
    assert "cookie" not in only_ours["headers"]


def test_http_upstream_streams_both_ways(db: Path, servers: Servers, account: Account) -> None:
    from aerovane.proxy import create_proxy_app

    upstream = servers.get("echo-upstream", lambda: echo_app)
    proxy = servers.get("http-proxy", lambda: create_proxy_app(upstream))
    token = id_token_for(proxy, account)
    body = b"x" * (3 * 1024 * 1024)

    def chunks() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    echoed = httpx.post(f"{proxy}/upload?q=1", headers=bearer(token), content=chunks(), timeout=30)
    assert echoed.status_code == 200
    assert echoed.headers["x-upstream"] == "echo"
    data = echoed.json()
    assert data["method"] == "POST" and data["path"] == "/upload" and data["query"] == "q=1"
    assert len(data["body"]) == len(body)
    assert data["headers"]["x-goog-authenticated-user-email"] == [
        f"accounts.google.com:{account.email}"
    ]
    assert "authorization" not in data["headers"]
    assert data["headers"]["x-forwarded-for"] == ["127.0.0.1"]
    get = httpx.get(f"{proxy}/plain", headers=bearer(token)).json()
    assert get["body"] == "" and "transfer-encoding" not in get["headers"]


def test_http_upstream_down_is_502(db: Path, servers: Servers, account: Account) -> None:
    import socket

    from aerovane.proxy import create_proxy_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxy = servers.get("dead-proxy", lambda: create_proxy_app(f"http://127.0.0.1:{port}"))
    token = id_token_for(proxy, account)
    response = httpx.get(f"{proxy}/x", headers=bearer(token))
    assert response.status_code == 502


def test_in_process_api_end_to_end(proxy_url: str, account: Account) -> None:
    """The real API behind the proxy acts as the user the assertion names."""
    from sqlalchemy import select

    from aerovane.db import models

    token = id_token_for(proxy_url, account)
    created = httpx.post(
        f"{proxy_url}/api/v1/variables", headers=bearer(token), json={"key": "k", "value": "v"}
    )
    assert created.status_code == 200, created.text
    with create_session(readonly=True) as session:
        owners = set(session.scalars(select(models.EventLog.owner)))
    assert owners == {f"accounts.google.com:{account.unique_id}"}
