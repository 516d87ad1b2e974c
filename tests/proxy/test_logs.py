"""Nothing secret reaches the logs: passwords, tokens, assertions, session cookies, keys."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest

from tests.proxy.conftest import (
    Account,
    access_token_for,
    add_user,
    bearer,
    id_token_for,
    set_config,
)


def test_no_secret_in_logs(
    proxy_url: str,
    account: Account,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "hunter2-but-longer"
    add_user("alice", ["Admin"], password=password, email="alice@example.com")
    secrets: list[str] = [password, account.key_file["private_key"]]

    id_token = id_token_for(proxy_url, account)
    access_token = access_token_for(proxy_url, account)
    secrets += [id_token, access_token]
    for token in (id_token, access_token, "garbage", id_token[:-4] + "AAAA"):
        httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(token))
    echo = httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(id_token))
    assert echo.status_code == 200

    with httpx.Client(base_url=proxy_url, headers={"Accept": "text/html"}) as browser:
        page = browser.get("/_aerovane/login")
        state = re.search(r'name=state value="([^"]+)"', page.text).group(1)
        browser.post(
            "/_aerovane/login",
            data={"username": "alice", "password": "wrong" + password, "state": state},
        )
        page = browser.get("/_aerovane/login")
        state = re.search(r'name=state value="([^"]+)"', page.text).group(1)
        done = browser.post(
            "/_aerovane/login", data={"username": "alice", "password": password, "state": state}
        )
        assert done.status_code == 302
        secrets.append(browser.cookies["GCP_IAP_AUTH_TOKEN"])
        assert browser.get("/api/v1/dags").status_code == 200
    set_config(monkeypatch, proxy__allowed_members="user:nobody@example.com")
    httpx.get(f"{proxy_url}/api/v1/dags", headers=bearer(id_token))

    # httpx/httpcore at DEBUG are this test's own client echoing what it sent and received.
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(record.getMessage() for record in server_side)
    assert "proxy sign-in" in text  # the flows above do log (sign-ins, registrations)
    for secret in secrets:
        for fragment in _fragments(secret):
            assert fragment not in text


def _fragments(secret: str) -> list[str]:
    if "PRIVATE KEY" in secret:
        body = "".join(line for line in secret.splitlines() if "-----" not in line)
        return [body[i : i + 40] for i in range(0, len(body) - 40, 200)]
    parts = [p for p in secret.split(".") if len(p) > 16]
    return [secret, *parts[1:]] if len(parts) > 1 else [secret]


def test_home(db: Path) -> None:
    assert db.exists()
