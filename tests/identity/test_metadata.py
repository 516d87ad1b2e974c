"""The metadata server: loopback peers only, `Metadata-Flavor: Google` both ways, the default
account's email, ID tokens and access tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI

from aerovane.db.engine import create_session
from aerovane.identity import service_accounts as sa
from aerovane.identity import verify_access_token, verify_id_token
from aerovane.identity.project import metadata_host
from aerovane.identity.routes import build_router

FLAVOR = {"Metadata-Flavor": "Google"}
ACCOUNT = "/computeMetadata/v1/instance/service-accounts/default"


class Client:
    """The identity routes in-process, called as if from peer `host`."""

    def __init__(self, host: str) -> None:
        app = FastAPI()
        app.include_router(build_router())
        self.transport = httpx.ASGITransport(app=app, client=(host, 50000))

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://metadata.google.internal"
            ) as client:
                return await client.get(path, headers=headers)

        return asyncio.run(send())


@pytest.fixture
def local(db: Path) -> Client:
    return Client("127.0.0.1")


def _default_email() -> str:
    return sa.service_account_email(sa.DEFAULT_ACCOUNT_ID)


def test_ping(local: Client) -> None:
    response = local.get("/", headers=FLAVOR)
    assert response.status_code == 200
    assert response.headers["metadata-flavor"] == "Google"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_peers_are_served(db: Path, host: str) -> None:
    assert Client(host).get(f"{ACCOUNT}/email", headers=FLAVOR).text == _default_email()


@pytest.mark.parametrize(
    "host", ["10.0.0.5", "192.168.1.2", "::ffff:10.0.0.1", "2001:db8::1", "testclient", "0.0.0.0"]
)
def test_other_peers_are_refused(db: Path, host: str) -> None:
    client = Client(host)
    for path in ("/", f"{ACCOUNT}/token", f"{ACCOUNT}/identity?audience=x"):
        response = client.get(path, headers=FLAVOR)
        assert response.status_code == 403
        assert response.headers["metadata-flavor"] == "Google"
        assert "eyJ" not in response.text


def test_flavor_header_is_required(local: Client) -> None:
    assert local.get("/", headers={"Metadata-Flavor": "Other"}).status_code == 403
    for path in (f"{ACCOUNT}/token", f"{ACCOUNT}/identity?audience=x", f"{ACCOUNT}/email"):
        response = local.get(path)
        assert response.status_code == 403
        assert response.headers["metadata-flavor"] == "Google"
        assert local.get(path, headers={"Metadata-Flavor": "Other"}).status_code == 403


def test_relayed_requests_are_refused(local: Client) -> None:
    for header in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        response = local.get(f"{ACCOUNT}/token", headers={**FLAVOR, **header})
        assert response.status_code == 403


def test_account_description(local: Client) -> None:
    response = local.get(f"{ACCOUNT}/?recursive=true", headers=FLAVOR)
    assert response.status_code == 200
    assert response.json() == {
        "aliases": ["default"],
        "email": _default_email(),
        "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
    }
    by_email = local.get(
        f"/computeMetadata/v1/instance/service-accounts/{_default_email()}/?recursive=true",
        headers=FLAVOR,
    )
    assert by_email.json()["email"] == _default_email()
    assert (
        local.get(
            "/computeMetadata/v1/instance/service-accounts/other@x.iam.gserviceaccount.com/email",
            headers=FLAVOR,
        ).status_code
        == 404
    )
    # Created once, reused after.
    with create_session(readonly=True) as session:
        assert len(sa.list_service_accounts(session=session)) == 1
    assert local.get("/computeMetadata/v1/project/project-id", headers=FLAVOR).text == "aerovane"


def test_identity_and_token(local: Client) -> None:
    identity = local.get(f"{ACCOUNT}/identity?audience=https://svc&format=full", headers=FLAVOR)
    assert identity.status_code == 200
    claims = jwt.decode(identity.text, options={"verify_signature": False})
    assert claims["aud"] == "https://svc" and claims["email"] == _default_email()
    token = local.get(f"{ACCOUNT}/token", headers=FLAVOR).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    with create_session(readonly=True) as session:
        assert verify_id_token(identity.text, audience="https://svc", session=session).email == (
            _default_email()
        )
        assert verify_access_token(token["access_token"], session=session).email == (
            _default_email()
        )
    scoped = local.get(f"{ACCOUNT}/token?scopes=openid,email", headers=FLAVOR).json()
    with create_session(readonly=True) as session:
        verify_access_token(scoped["access_token"], session=session, scope="email")
    assert local.get(f"{ACCOUNT}/identity", headers=FLAVOR).status_code == 400


def test_a_disabled_default_account_gets_nothing(local: Client) -> None:
    assert local.get(f"{ACCOUNT}/email", headers=FLAVOR).status_code == 200
    with create_session() as session:
        sa.set_disabled(_default_email(), True, session=session)
    assert local.get(f"{ACCOUNT}/token", headers=FLAVOR).status_code == 403


def test_metadata_host(aerovane_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.api.conftest import set_config

    assert metadata_host() == "127.0.0.1:8081"
    set_config(monkeypatch, proxy__api_host="::", proxy__api_port="9000")
    assert metadata_host() == "[::1]:9000"
    set_config(monkeypatch, proxy__enabled="False", webserver__web_server_port="8090")
    assert metadata_host() == "127.0.0.1:8090"
