"""Throttling password guesses at `POST /token` (and through the proxy, behind a trusted load
balancer): per account from an address, per address, per account from everywhere except the
addresses it signs in from; windows end; nothing but digests is stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select, update

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.identity import throttle
from tests.identity.conftest import add_user

PASSWORD = "alice-pw"
Post = Callable[..., httpx.Response]


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small limits, so a test makes a few dozen guesses rather than hundreds (the server runs
    in this process and reads them per request)."""
    monkeypatch.setattr(throttle, "PAIR_LIMIT", 3)
    monkeypatch.setattr(throttle, "ADDRESS_LIMIT", 6)
    monkeypatch.setattr(throttle, "ACCOUNT_LIMIT", 6)


@pytest.fixture
def people(server_url: str) -> None:
    add_user("alice", ["Viewer"], password=PASSWORD, email="alice@example.com")
    add_user("bob", ["Viewer"], password="bob-pw", email="bob@example.com")


@pytest.fixture
def post_from(server_url: str) -> Iterator[Callable[[str], Post]]:
    """`post_from("127.0.0.7")(form)`: a token request from that loopback address."""
    clients: list[httpx.Client] = []

    def make(address: str) -> Post:
        transport = httpx.HTTPTransport(local_address=address)
        client = httpx.Client(base_url=server_url, transport=transport, timeout=30)
        clients.append(client)
        return lambda form: client.post("/token", data=form)

    yield make
    for client in clients:
        client.close()


def _password(username: str, password: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password}


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_grant"


def _throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json() == {
        "error": "slow_down",
        "error_description": "Too many failed attempts; try again later",
    }
    assert response.headers["cache-control"] == "no-store"
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= throttle.WINDOW
    return retry_after


def _end_windows() -> None:
    """What the passing of `WINDOW` does to the counters."""
    with create_session() as session:
        session.execute(update(models.LoginThrottle).values(expires_at=0))


def test_guesses_at_an_account_from_one_address(
    limits: None, people: None, post_from: Callable[[str], Post]
) -> None:
    attacker, alice_at_work = post_from("127.0.0.2"), post_from("127.0.0.3")
    for _ in range(3):
        _refused(attacker(_password("alice", "guess")))
    # Even the right password waits now: a throttled answer must not tell a right guess apart.
    _throttled(attacker(_password("alice", PASSWORD)))
    _throttled(attacker(_password("alice", "guess")))
    # The guesser's address cannot lock Alice out from anywhere else.
    assert alice_at_work(_password("alice", PASSWORD)).status_code == 200
    # ...and the window ends: nobody is locked out for good.
    _end_windows()
    assert attacker(_password("alice", PASSWORD)).status_code == 200


def test_a_success_clears_the_count(
    limits: None, people: None, post_from: Callable[[str], Post]
) -> None:
    """Typos between sign-ins never add up to the account's limit (3): 2 + 2 failures. The
    address's count is not cleared: a sprayer could otherwise reset it with an account of its
    own."""
    alice = post_from("127.0.0.4")
    for _ in range(2):
        for _ in range(2):
            _refused(alice(_password("alice", "typo")))
        assert alice(_password("alice", PASSWORD)).status_code == 200


def test_spraying_many_accounts_from_one_address(
    limits: None, people: None, post_from: Callable[[str], Post]
) -> None:
    sprayer, elsewhere = post_from("127.0.0.5"), post_from("127.0.0.6")
    for number in range(6):
        _refused(sprayer(_password(f"user{number}", "Winter2026!")))
    _throttled(sprayer(_password("bob", "bob-pw")))
    assert elsewhere(_password("bob", "bob-pw")).status_code == 200


def test_guesses_at_an_account_from_many_addresses(
    limits: None, people: None, post_from: Callable[[str], Post]
) -> None:
    bob_at_work = post_from("127.0.1.1")
    assert bob_at_work(_password("bob", "bob-pw")).status_code == 200
    for host in range(2, 5):  # three addresses, two guesses each: under every per-address limit
        guesser = post_from(f"127.0.2.{host}")
        for _ in range(2):
            _refused(guesser(_password("bob", "guess")))
    _throttled(post_from("127.0.3.1")(_password("bob", "bob-pw")))
    # Where Bob signed in before is exempt: a distributed guesser cannot lock him out of it.
    assert bob_at_work(_password("bob", "bob-pw")).status_code == 200
    # Other accounts are untouched.
    assert post_from("127.0.3.2")(_password("alice", PASSWORD)).status_code == 200


def test_nothing_but_digests_is_stored(
    limits: None, people: None, post_from: Callable[[str], Post]
) -> None:
    post = post_from("127.0.0.8")
    _refused(post(_password("alice", "guess")))
    assert post(_password("alice", PASSWORD)).status_code == 200
    with create_session(readonly=True) as session:
        keys = session.scalars(select(models.LoginThrottle.key)).all()
    assert len(keys) == 3  # the address, the account, and the address the account is known at
    assert all(len(key) == 64 and set(key) <= set("0123456789abcdef") for key in keys)


def test_behind_a_trusted_load_balancer_callers_are_told_apart(
    limits: None, people: None, monkeypatch: pytest.MonkeyPatch, server_url: str
) -> None:
    """Through the proxy with `[proxy] trusted_proxies`, the X-Forwarded-For hop is the
    address that is counted, not the load balancer's. (The proxy app is called directly: the
    uvicorn of the test servers would itself believe X-Forwarded-For from loopback, which
    Aerovane's servers are started not to do.)"""
    from aerovane.proxy.app import create_proxy_app
    from tests.api.conftest import set_config
    from tests.proxy.conftest import asgi_request

    set_config(monkeypatch, proxy__trusted_proxies="10.0.0.0/8")
    app = create_proxy_app(server_url)

    def post(form: dict[str, str], client: str) -> httpx.Response:
        return asgi_request(
            app,
            "POST",
            "/token",
            client="10.1.2.3",
            headers={
                "X-Forwarded-For": client,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            content=urlencode(form).encode(),
        )

    for _ in range(3):
        _refused(post(_password("alice", "guess"), "203.0.113.5"))
    _throttled(post(_password("alice", PASSWORD), "203.0.113.5"))
    assert post(_password("alice", PASSWORD), "203.0.113.6").status_code == 200
