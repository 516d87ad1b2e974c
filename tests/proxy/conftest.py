"""Fixtures for proxy tests: real servers (uvicorn on 127.0.0.1 or ::1), service accounts with
keys, tokens from the real token service, and an upstream that echoes what it was sent.

Servers are started once per session: the proxy, the API app and the token service read
settings and engines per request, so each test's fresh home and database are used at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn

from tests.api.conftest import add_user, set_config

__all__ = ["add_user", "set_config"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@contextlib.contextmanager
def serve(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` with uvicorn in a thread (as standalone does: no proxy headers); yield URL."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        ws="none",
        loop="asyncio",
        access_log=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Servers:
    """Lazily started servers shared by the session, by name."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.urls: dict[str, str] = {}

    def get(self, name: str, factory: Callable[[], Any], host: str = "127.0.0.1") -> str:
        if name not in self.urls:
            self.urls[name] = self._stack.enter_context(serve(factory(), host))
        return self.urls[name]

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    holder = Servers()
    yield holder
    holder.close()


def _api_app() -> Any:
    from aerovane.api.app import create_app

    return create_app()


def _proxy_app() -> Any:
    from aerovane.proxy import create_proxy_app

    return create_proxy_app(_api_app())


@pytest.fixture
def api_url(db: Path, servers: Servers) -> str:
    """The API server on its own (what standalone serves on [proxy] api_port)."""
    return servers.get("api", _api_app)


@pytest.fixture
def proxy_url(db: Path, servers: Servers) -> str:
    """The proxy with the API app in-process (standalone's public port)."""
    return servers.get("proxy", _proxy_app)


def asgi_request(
    app: Any,
    method: str,
    path: str,
    *,
    client: str = "192.0.2.10",
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """One request to an ASGI app in this thread, from peer address `client`."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as http:
            return await http.request(method, path, headers=headers, content=content)

    return asyncio.run(go())


# -- an upstream that shows what reached it -----------------------------------------------------


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with the method, path, client, headers and body it received, as JSON."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    payload = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "client": list(scope["client"]) if scope.get("client") else None,
            "headers": headers,
            "body": body.decode("latin-1"),
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-upstream", b"echo")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def echo_proxy_url(db: Path, servers: Servers) -> str:
    """The proxy in front of `echo_app`, in-process."""
    from aerovane.proxy import create_proxy_app

    return servers.get("echo-proxy", lambda: create_proxy_app(echo_app))


# -- service accounts and tokens from the real token service ------------------------------------


@dataclass(frozen=True)
class Account:
    email: str
    unique_id: str
    key_file: dict[str, str]

    def assertion(self, **claims: Any) -> str:
        """A JWT-bearer assertion signed with the account's key, as google-auth builds one."""
        now = int(time.time())
        body = {
            "iss": self.email,
            "sub": self.email,
            "aud": "https://oauth2.googleapis.com/token",
            "iat": now,
            "exp": now + 3600,
            **claims,
        }
        return jwt.encode(
            body,
            self.key_file["private_key"],
            algorithm="RS256",
            headers={"kid": self.key_file["private_key_id"]},
        )


def make_account(name: str = "robot-one") -> Account:
    from aerovane.db.engine import create_session
    from aerovane.identity import service_accounts as sa

    with create_session() as session:
        account = sa.create_service_account(name, session=session)
        key = sa.create_key(account.email, session=session).key_file
        return Account(account.email, account.unique_id, key)


@pytest.fixture
def account(db: Path) -> Account:
    return make_account()


def fetch_token(base_url: str, account: Account, **claims: Any) -> dict[str, Any]:
    """POST /token (a JWT-bearer grant) to the token service at `base_url`."""
    response = httpx.post(
        f"{base_url}/token",
        data={"grant_type": JWT_BEARER, "assertion": account.assertion(**claims)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def id_token_for(base_url: str, account: Account, audience: str | None = None) -> str:
    from aerovane.identity import oauth_client_id

    return fetch_token(base_url, account, target_audience=audience or oauth_client_id())["id_token"]


def access_token_for(base_url: str, account: Account, scope: str = CLOUD_PLATFORM) -> str:
    return fetch_token(base_url, account, scope=scope)["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
