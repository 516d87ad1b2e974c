"""`IdentityHeadersMiddleware`: what clients may not say about themselves.

Every client-sent `X-Goog-*` header is removed (case-insensitively), as IAP does, so the only
`X-Goog-Authenticated-User-*` and `X-Goog-IAP-JWT-Assertion` headers the backend ever sees are
the proxy's own. Credential headers are bounded before anyone parses them: an oversized one is
answered with 431, a repeated or malformed one (control or non-ASCII characters) with 400. This
module must not authenticate anybody; it only cleans the request.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

#: Largest accepted `Authorization` / `Proxy-Authorization` value (an ID token is ~1 KiB).
MAX_CREDENTIAL_BYTES = 8 * 1024
#: Largest accepted `Cookie` value, summed over all Cookie headers.
MAX_COOKIE_BYTES = 16 * 1024
#: Largest accepted request head (all header names and values).
MAX_HEADER_BYTES = 64 * 1024

_GOOG_PREFIX = b"x-goog-"
_CREDENTIALS = (b"authorization", b"proxy-authorization")
_COOKIE = b"cookie"


class HeaderError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_NOT_PRINTABLE = re.compile(rb"[^\t\x20-\x7e]")


def _printable_ascii(value: bytes) -> bool:
    return _NOT_PRINTABLE.search(value) is None


def clean_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers without `X-Goog-*`; HeaderError for oversized or malformed credentials."""
    kept: list[tuple[bytes, bytes]] = []
    seen: set[bytes] = set()
    total = 0
    cookies = 0
    for name, value in headers:
        total += len(name) + len(value) + 4
        lowered = name.lower()
        if lowered.startswith(_GOOG_PREFIX):
            continue
        if lowered in _CREDENTIALS:
            if len(value) > MAX_CREDENTIAL_BYTES:
                raise HeaderError(431, f"{name.decode('latin-1')} header too large")
            if lowered in seen:
                raise HeaderError(400, f"more than one {name.decode('latin-1')} header")
            if not _printable_ascii(value):
                raise HeaderError(400, f"malformed {name.decode('latin-1')} header")
            seen.add(lowered)
        elif lowered == _COOKIE:
            cookies += len(value)
            if cookies > MAX_COOKIE_BYTES:
                raise HeaderError(431, "Cookie header too large")
        kept.append((lowered, value))
    if total > MAX_HEADER_BYTES:
        raise HeaderError(431, "request headers too large")
    return kept


class IdentityHeadersMiddleware:
    """Strip client-sent `X-Goog-*` headers and refuse bad credential headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            headers = clean_headers(list(scope.get("headers", ())))
        except HeaderError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _reply(send, exc.status, exc.message)
            return
        await self.app({**scope, "headers": headers}, receive, send)


_REASONS = {400: "Bad Request", 431: "Request Header Fields Too Large"}


async def _reply(send: Send, status: int, message: str) -> None:
    body = f"{status} {_REASONS.get(status, '')}: {message}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
