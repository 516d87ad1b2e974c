"""Fixtures for identity tests: service accounts with key files, local users, a running server.

The server is the real API app (which includes the identity router) under uvicorn on a free port;
`[identity] public_url` is pointed at it so key files' `token_uri` reaches it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import _ServerHolder, add_user, set_config

__all__ = ["add_user"]


@pytest.fixture(scope="session")
def _identity_server() -> Iterator[_ServerHolder]:
    holder = _ServerHolder()
    yield holder
    holder.close()


@pytest.fixture
def server_url(db: Path, _identity_server: _ServerHolder, monkeypatch: pytest.MonkeyPatch) -> str:
    url = _identity_server.ensure()
    set_config(monkeypatch, identity__public_url=url)
    return url


@pytest.fixture
def make_account(db: Path) -> Callable[..., dict[str, Any]]:
    """Create a service account (and by default a key); return the key file (or describe())."""

    def make(name: str = "robot-one", *, with_key: bool = True) -> dict[str, Any]:
        from aerovane.db.engine import create_session
        from aerovane.identity import service_accounts as sa

        with create_session() as session:
            account = sa.create_service_account(name, session=session)
            if not with_key:
                return sa.describe(account)
            return sa.create_key(account.email, session=session).key_file

    return make


@pytest.fixture
def key_path(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(info: dict[str, Any]) -> Path:
        path = tmp_path / f"{info['private_key_id']}.json"
        path.write_text(json.dumps(info))
        return path

    return write


@pytest.fixture
def no_secrets_logged(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Collects secrets a test handles; fails if any appears in a captured log record."""
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []
    yield secrets
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        for fragment in _fragments(secret):
            assert fragment not in text


def _fragments(secret: str) -> list[str]:
    if "PRIVATE KEY" in secret:
        body = "".join(line for line in secret.splitlines() if "-----" not in line)
        return [body[i : i + 40] for i in range(0, len(body) - 40, 200)]
    return [secret, *secret.split(".")[1:]]
