"""Fixtures for control-plane tests: the real API app under uvicorn, service accounts with key
files and project roles, access tokens from the real token endpoint through google-auth, and
this process's config watcher.

`[identity] public_url` and `[webserver] base_url` point at the test server, so key files'
`token_uri` reaches it and the environment's `airflowUri` is its URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import _ServerHolder, add_user, set_config

__all__ = ["add_user"]

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
PROJECT = "aerovane"
LOCATION = "local"
ENV = f"projects/{PROJECT}/locations/{LOCATION}/environments/aerovane"
ADMIN_ROLE = "roles/composer.admin"
USER_ROLE = "roles/composer.user"
VIEWER_ROLE = "roles/composer.environmentAndStorageObjectViewer"


@pytest.fixture(scope="session")
def _control_server() -> Iterator[_ServerHolder]:
    holder = _ServerHolder()
    yield holder
    holder.close()


@pytest.fixture
def server_url(db: Path, _control_server: _ServerHolder, monkeypatch: pytest.MonkeyPatch) -> str:
    from aerovane.control import live

    url = _control_server.ensure()
    set_config(
        monkeypatch, identity__public_url=url, webserver__base_url=url, proxy__enabled="False"
    )
    yield url
    live.reset()


@pytest.fixture
def watcher(server_url: str) -> Iterator[Any]:
    """This process's ConfigWatcher, as every Aerovane process runs one."""
    from aerovane.control import live

    running = live.start_watcher()
    yield running
    live.stop_watcher()
    live.reset()


@dataclass
class Account:
    email: str
    key_path: Path

    @property
    def member(self) -> str:
        return f"serviceAccount:{self.email}"

    def token(self) -> str:
        """An access token from the token endpoint, through google-auth."""
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(
            str(self.key_path), scopes=[CLOUD_PLATFORM]
        )
        credentials.refresh(Request())
        return str(credentials.token)


@pytest.fixture
def make_account(server_url: str, tmp_path: Path) -> Callable[..., Account]:
    """A service account with a key file, holding `role` on the project (if given)."""

    def make(name: str, role: str | None = None) -> Account:
        from aerovane.control.access import add_project_binding
        from aerovane.db.engine import create_session
        from aerovane.identity import service_accounts as sa

        with create_session() as session:
            account = sa.create_service_account(name, session=session)
            key = sa.create_key(account.email, session=session).key_file
            if role:
                add_project_binding(
                    PROJECT, member=f"serviceAccount:{account.email}", role=role, session=session
                )
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(key))
        return Account(account.email, path)

    return make


class Control:
    """An HTTP client of the control plane with one caller's bearer token."""

    def __init__(self, base_url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/v1/{path}", **kwargs)

    def patch(self, mask: str | None, body: Any, path: str = ENV) -> httpx.Response:
        params = {"updateMask": mask} if mask is not None else {}
        return self.http.patch(f"/v1/{path}", params=params, json=body)

    def post(self, verb: str, body: Any, path: str = ENV) -> httpx.Response:
        return self.http.post(f"/v1/{path}:{verb}", json=body)

    def describe(self) -> dict[str, Any]:
        response = self.get(ENV)
        assert response.status_code == 200, response.text
        return response.json()

    def run(self, command: str, subcommand: str = "", *parameters: str) -> dict[str, Any]:
        """Execute a command and poll it to the end: {"lines", "exitInfo", "execution"}."""
        response = self.post(
            "executeAirflowCommand",
            {"command": command, "subcommand": subcommand, "parameters": list(parameters)},
        )
        assert response.status_code == 200, response.text
        execution = response.json()
        lines: list[dict[str, Any]] = []
        next_line = 1
        while True:
            polled = self.post(
                "pollAirflowCommand",
                {**execution, "nextLineNumber": next_line},
            )
            assert polled.status_code == 200, polled.text
            body = polled.json()
            lines.extend(body["output"])
            if body["output"]:
                next_line = body["output"][-1]["lineNumber"] + 1
            if body["outputEnd"]:
                return {"lines": lines, "exitInfo": body["exitInfo"], "execution": execution}

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def control_for(server_url: str) -> Iterator[Callable[[Account | str | None], Control]]:
    clients: list[Control] = []

    def make(who: Account | str | None) -> Control:
        token = who.token() if isinstance(who, Account) else who
        client = Control(server_url, token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def admin(make_account: Callable[..., Account]) -> Account:
    return make_account("composer-admin", ADMIN_ROLE)


@pytest.fixture
def control(admin: Account, control_for: Callable[[Account], Control]) -> Control:
    """The control plane as a composer admin."""
    return control_for(admin)


def environment_row() -> Any:
    from aerovane.control.live import current_environment
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        return current_environment(session=session)
