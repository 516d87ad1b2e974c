"""The IP allow-list: IPv4 and IPv6 ranges, the empty list, X-Forwarded-For from trusted and
untrusted peers, live configuration changes, and refusal before any authentication work."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import httpx
import pytest

from aerovane.config import Settings
from aerovane.proxy.allowlist import AddressPolicy, AllowListMiddleware, parse_address
from tests.proxy.conftest import Servers, asgi_request, echo_app, set_config


def _policy(allowed: str, trusted: str = "") -> AddressPolicy:
    settings = Settings(
        overrides={("proxy", "allowed_ip_ranges"): allowed, ("proxy", "trusted_proxies"): trusted}
    )
    return AddressPolicy.from_settings(settings)


def _judge(policy: AddressPolicy, peer: str, *xff: str) -> str | None:
    address = policy.client_address(peer, list(xff))
    return str(address) if address is not None else None


def test_parse_address_forms() -> None:
    assert parse_address("10.1.2.3") == ipaddress.ip_address("10.1.2.3")
    assert parse_address("10.1.2.3:8080") == ipaddress.ip_address("10.1.2.3")
    assert parse_address("[2001:db8::1]:443") == ipaddress.ip_address("2001:db8::1")
    assert parse_address("fe80::1%eth0") == ipaddress.ip_address("fe80::1")
    # A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6: judged as IPv4.
    assert parse_address("::ffff:192.0.2.7") == ipaddress.ip_address("192.0.2.7")
    for junk in ("", None, "unknown", "1.2.3", "999.1.1.1", "_hidden"):
        assert parse_address(junk) is None


def test_ipv4_and_ipv6_ranges(aerovane_home: Path) -> None:
    policy = _policy("10.0.0.0/8,2001:db8::/32")
    assert policy.allows(parse_address("10.200.0.1"))
    assert not policy.allows(parse_address("11.0.0.1"))
    assert policy.allows(parse_address("2001:db8:ffff::1"))
    assert not policy.allows(parse_address("2001:db9::1"))
    assert policy.allows(parse_address("::ffff:10.0.0.9"))
    assert not policy.allows(None)
    everyone = _policy("0.0.0.0/0,::/0")
    assert everyone.allows(parse_address("198.51.100.1"))
    assert everyone.allows(parse_address("::1"))
    only_v4 = _policy("0.0.0.0/0")
    assert not only_v4.allows(parse_address("::1"))


def test_empty_list_denies_everyone(aerovane_home: Path) -> None:
    policy = _policy("")
    assert policy.allowed == ()
    assert not policy.allows(parse_address("127.0.0.1"))
    assert not policy.allows(parse_address("::1"))


def test_forwarded_for_is_ignored_from_untrusted_peers(aerovane_home: Path) -> None:
    policy = _policy("10.0.0.0/8")
    # A client outside the range cannot talk its way in with a header.
    assert _judge(policy, "203.0.113.9", "10.0.0.1") == "203.0.113.9"
    trusted_elsewhere = _policy("10.0.0.0/8", "192.168.0.0/16")
    assert _judge(trusted_elsewhere, "203.0.113.9", "10.0.0.1") == "203.0.113.9"


def test_trusted_proxy_right_most_untrusted_hop(aerovane_home: Path) -> None:
    policy = _policy("10.0.0.0/8", "192.168.0.0/16,fd00::/8")
    # The load balancer (trusted) says the client is 10.1.1.1.
    assert _judge(policy, "192.168.1.1", "10.1.1.1") == "10.1.1.1"
    # The client itself wrote "10.0.0.1" in front: only the right-most untrusted hop counts.
    assert _judge(policy, "192.168.1.1", "10.0.0.1, 203.0.113.9") == "203.0.113.9"
    # Chains of trusted proxies are walked right to left; several headers are one list.
    assert _judge(policy, "192.168.1.1", "203.0.113.9, 10.2.2.2", "192.168.5.5") == "10.2.2.2"
    assert _judge(policy, "fd00::1", "2001:db8::7") == "2001:db8::7"
    # Only trusted hops: the left-most is the closest we know to the client.
    assert _judge(policy, "192.168.1.1", "192.168.9.9") == "192.168.9.9"
    # No header: the peer itself.
    assert _judge(policy, "192.168.1.1") == "192.168.1.1"
    # An unparsable hop where the decision needs it: refused, not guessed.
    assert _judge(policy, "192.168.1.1", "10.0.0.1, garbage") is None
    assert not policy.allows(policy.client_address("192.168.1.1", ["garbage"]))


def _get(app: Any, address: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return asgi_request(app, "GET", "/x", client=address, headers=headers)


def test_middleware_answers_403_before_the_app(aerovane_home: Path, monkeypatch: Any) -> None:
    set_config(monkeypatch, proxy__allowed_ip_ranges="10.0.0.0/8,2001:db8::/32")
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["aerovane.client_address"])
        await echo_app(scope, receive, send)

    wrapped = AllowListMiddleware(app)
    assert _get(wrapped, "10.9.9.9").status_code == 200
    assert _get(wrapped, "2001:db8::5").status_code == 200
    refused = _get(wrapped, "203.0.113.1", {"X-Forwarded-For": "10.0.0.1"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "not allowed" in refused.text
    assert reached == ["10.9.9.9", "2001:db8::5"]


def test_trusted_proxy_sets_client_and_scheme(aerovane_home: Path, monkeypatch: Any) -> None:
    set_config(
        monkeypatch,
        proxy__allowed_ip_ranges="198.51.100.0/24",
        proxy__trusted_proxies="10.0.0.0/8",
    )
    seen: list[tuple[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["aerovane.client_address"], scope["scheme"]))
        await echo_app(scope, receive, send)

    wrapped = AllowListMiddleware(app)
    headers = {"X-Forwarded-For": "198.51.100.20", "X-Forwarded-Proto": "https"}
    assert _get(wrapped, "10.0.0.2", headers).status_code == 200
    assert _get(wrapped, "10.0.0.2", {"X-Forwarded-For": "203.0.113.1"}).status_code == 403
    # The same headers from a peer that is not a trusted proxy are ignored.
    assert (
        _get(wrapped, "198.51.100.30", {**headers, "X-Forwarded-For": "10.0.0.1"}).status_code
        == 200
    )
    assert seen == [("198.51.100.20", "https"), ("198.51.100.30", "http")]


def test_live_configuration_change(aerovane_home: Path, monkeypatch: Any) -> None:
    wrapped = AllowListMiddleware(echo_app)
    assert _get(wrapped, "192.0.2.1").status_code == 200  # default: everyone
    set_config(monkeypatch, proxy__allowed_ip_ranges="")
    assert _get(wrapped, "192.0.2.1").status_code == 403
    set_config(monkeypatch, proxy__allowed_ip_ranges="192.0.2.0/24")
    assert _get(wrapped, "192.0.2.1").status_code == 200
    set_config(monkeypatch, proxy__allowed_ip_ranges="::/0")
    assert _get(wrapped, "192.0.2.1").status_code == 403


def test_host_bits_are_refused_at_load(aerovane_home: Path) -> None:
    from aerovane.config import ConfigError

    with pytest.raises(ConfigError, match="allowed_ip_ranges"):
        Settings(overrides={("proxy", "allowed_ip_ranges"): "10.0.0.1/8"})


def _ipv6_available() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 loopback here")
def test_real_servers_on_ipv4_and_ipv6_loopback(
    db: Path, servers: Servers, monkeypatch: Any
) -> None:
    """The peer address of real connections, over both families, through the whole proxy."""
    from aerovane.proxy import create_proxy_app

    v4 = servers.get("allow-v4", lambda: create_proxy_app(echo_app), "127.0.0.1")
    v6 = servers.get("allow-v6", lambda: create_proxy_app(echo_app), "::1")
    json_only = {"Accept": "application/json"}
    set_config(monkeypatch, proxy__allowed_ip_ranges="::1/128")
    assert httpx.get(f"{v4}/x", headers=json_only).status_code == 403
    # Allowed through the list, then refused by authentication (no credentials): 401.
    assert httpx.get(f"{v6}/x", headers=json_only).status_code == 401
    set_config(monkeypatch, proxy__allowed_ip_ranges="127.0.0.0/8")
    assert httpx.get(f"{v4}/x", headers=json_only).status_code == 401
    assert httpx.get(f"{v6}/x", headers=json_only).status_code == 403
    # Spoofing from an untrusted peer changes nothing.
    spoofed = {**json_only, "X-Forwarded-For": "::1"}
    assert httpx.get(f"{v6}/x", headers=spoofed).status_code == 403
    # Loopback as a trusted proxy: its X-Forwarded-For is believed.
    set_config(
        monkeypatch, proxy__allowed_ip_ranges="203.0.113.0/24", proxy__trusted_proxies="::1/128"
    )
    assert (
        httpx.get(f"{v6}/x", headers={**json_only, "X-Forwarded-For": "203.0.113.5"}).status_code
        == 401
    )
    assert (
        httpx.get(f"{v6}/x", headers={**json_only, "X-Forwarded-For": "198.51.100.5"}).status_code
        == 403
    )
    assert (
        httpx.get(f"{v4}/x", headers={**json_only, "X-Forwarded-For": "203.0.113.5"}).status_code
        == 403
    )
    # The token service is no part of the web server: a key file's token_uri works from
    # anywhere, as Google's token endpoint does, while the web server refuses.
    set_config(monkeypatch, proxy__allowed_ip_ranges="")
    assert httpx.get(f"{v4}/x", headers=json_only).status_code == 403
    assert httpx.get(f"{v4}/oauth2/v3/certs").status_code == 200
    assert httpx.get(f"{v6}/.well-known/openid-configuration").status_code == 200
    assert httpx.post(f"{v4}/token", data={"grant_type": "nonsense"}).status_code == 400
