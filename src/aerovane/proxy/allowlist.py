"""`AllowListMiddleware`: who may reach the web server at all, by IP address.

Composer's web server network access control: `[proxy] allowed_ip_ranges` (IPv4 and IPv6 CIDR
ranges; empty denies everyone) is checked against the client address before anything else
happens, so a refused caller costs no token verification or database work. The client address
is the TCP peer, except that `X-Forwarded-For` is believed when the peer is one of
`[proxy] trusted_proxies`: the client is then the right-most hop that is not itself a trusted
proxy, so a client cannot pick its own address by sending the header (everything left of the
first untrusted hop was written by that untrusted party). A trusted proxy's
`X-Forwarded-Proto` also sets the request's scheme (TLS ended there).

Settings are read on every request (a dictionary lookup) and parsed once per settings snapshot,
so `reload_settings()` takes effect on the next request. This module must not do anything but
decide on the address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from aerovane.config import Settings, get_settings
from aerovane.metrics import Stats

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CLIENT_ADDRESS_KEY = "aerovane.client_address"
_XFF = b"x-forwarded-for"
_XFP = b"x-forwarded-proto"
_FORBIDDEN_BODY = (
    b"<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>403 Forbidden</title>"
    b"<p><b>403.</b> Forbidden: your network address is not allowed to reach this web server."
    b"</html>\n"
)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """The parsed `[proxy] allowed_ip_ranges` and `[proxy] trusted_proxies` of one snapshot."""

    allowed: tuple[IPNetwork, ...]
    trusted: tuple[IPNetwork, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        return cls(
            allowed=_networks(settings.get("proxy", "allowed_ip_ranges")),
            trusted=_networks(settings.get("proxy", "trusted_proxies")),
        )

    def client_address(self, peer: str | None, forwarded_for: Sequence[str]) -> IPAddress | None:
        """The address to judge: the peer, or the right-most untrusted X-Forwarded-For hop.

        None when an address needed for the decision cannot be parsed (refused, not guessed).
        """
        address = parse_address(peer)
        if address is None or not self.trusted or not _member(address, self.trusted):
            return address
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            hop_address = parse_address(hop)
            if hop_address is None:
                return None
            address = hop_address
            if not _member(address, self.trusted):
                return address
        # Every hop is a trusted proxy: the left-most one is as close to the client as we know.
        return address

    def is_trusted(self, peer: str | None) -> bool:
        address = parse_address(peer)
        return address is not None and _member(address, self.trusted)

    def allows(self, address: IPAddress | None) -> bool:
        return address is not None and _member(address, self.allowed)


def parse_address(text: str | None) -> IPAddress | None:
    """An IP address from a peer or an X-Forwarded-For hop; IPv4-mapped IPv6 becomes IPv4."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:443", as some proxies write hops
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]  # zone index of a link-local address
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _networks(value: object) -> tuple[IPNetwork, ...]:
    if not isinstance(value, tuple):
        raise TypeError(f"expected parsed CIDR ranges, got {type(value).__name__}")
    return tuple(ipaddress.ip_network(item, strict=True) for item in value)


def _member(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


class CurrentPolicy:
    """The `AddressPolicy` of the current settings snapshot, parsed once per snapshot."""

    def __init__(self, settings: Callable[[], Settings] = get_settings) -> None:
        self._settings = settings
        self._cached: tuple[Settings, AddressPolicy] | None = None

    def __call__(self) -> AddressPolicy:
        settings = self._settings()
        cached = self._cached
        if cached is not None and cached[0] is settings:
            return cached[1]
        policy = AddressPolicy.from_settings(settings)
        self._cached = (settings, policy)
        return policy

    def trusts_peer(self, scope: Scope) -> bool:
        """Whether the request's TCP peer is one of `[proxy] trusted_proxies`."""
        client = scope.get("client")
        return self().is_trusted(client[0] if client else None)


class AllowListMiddleware:
    """Answer 403 to callers outside `[proxy] allowed_ip_ranges`; pass everyone else through.

    The judged address is stored in `scope["aerovane.client_address"]` for later layers (the
    forwarder reports it upstream).
    """

    def __init__(self, app: ASGIApp, *, settings: Callable[[], Settings] = get_settings) -> None:
        self.app = app
        # Validate now so a bad configuration fails start-up, not the first request.
        self._policy = CurrentPolicy(settings)
        self._policy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        policy = self._policy()
        client = scope.get("client")
        peer = client[0] if client else None
        headers = scope.get("headers", ())
        forwarded = [value.decode("latin-1") for name, value in headers if name == _XFF]
        address = policy.client_address(peer, forwarded)
        if not policy.allows(address):
            Stats.incr("proxy.auth", tags={"result": "denied", "reason": "ip_not_allowed"})
            await _refuse(scope, send)
            return
        scope[CLIENT_ADDRESS_KEY] = str(address)
        if policy.trusted and policy.is_trusted(peer):
            proto = next((v for n, v in headers if n == _XFP), b"").decode("latin-1").lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto  # TLS ended at the trusted proxy in front of us
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(_FORBIDDEN_BODY)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _FORBIDDEN_BODY})
