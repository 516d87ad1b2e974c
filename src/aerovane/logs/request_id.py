"""`RequestIdMiddleware`: each HTTP request's id, on its log lines and in its response.

The id is a correlation label, never an identity: nothing is authorised by it. The proxy makes a
new one for every request and drops whatever `X-Request-Id` the client sent, so no client can
give its request another request's id, except that it keeps a well-formed one sent by a load
balancer listed in `[proxy] trusted_proxies` (whose own logs then share the id); it forwards
its id to the API. The API takes an incoming
id only when it is one well-formed `X-Request-Id` (1-128 characters of letters, digits and
`._:-`), which is the proxy's or, reached directly, the caller's own label; a missing, repeated
or malformed one is replaced, not refused. The id is returned in `X-Request-Id`, opens the log
context (`logs.context`) for the request and, with `[logging] access_log`, ends in one access
line per request (the path still percent-encoded, never the query string).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerovane.logs.context import open_context, reset_context

HEADER = b"x-request-id"
#: The scope key holding the request's id.
SCOPE_KEY = "aerovane.request_id"
MAX_LENGTH = 128
_VALID = re.compile(rb"[A-Za-z0-9._:-]{1,%d}" % MAX_LENGTH)


def new_request_id() -> str:
    return uuid.uuid4().hex


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's id if it sent exactly one well-formed `X-Request-Id`, else None."""
    sent = [value for name, value in headers if name == HEADER or name.lower() == HEADER]
    if len(sent) != 1 or _VALID.fullmatch(sent[0]) is None:
        return None
    return sent[0].decode("ascii")


class RequestIdMiddleware:
    """Give each HTTP request an id: the incoming one when `trust_incoming` (a flag, or a
    function of the request's scope) and well-formed, else a new one. Upstream apps see exactly
    one `X-Request-Id` header, the response carries it, and every line logged while serving it
    has `request_id`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        trust_incoming: bool | Callable[[Scope], bool],
        access_logger: str | None = None,
    ) -> None:
        self.app = app
        self.trust_incoming = trust_incoming
        self.access_log = logging.getLogger(access_logger) if access_logger else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = scope["headers"]
        trusted = self.trust_incoming
        if callable(trusted):
            trusted = trusted(scope)
        request_id = (trusted and incoming_request_id(incoming)) or new_request_id()
        own = (HEADER, request_id.encode("ascii"))
        headers = [(n, v) for n, v in incoming if n != HEADER and n.lower() != HEADER]
        headers.append(own)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = [(n, v) for n, v in message.get("headers", ()) if n.lower() != HEADER]
                out.append(own)
                message["headers"] = out
            await send(message)

        started = time.monotonic()
        token = open_context(request_id=request_id)
        try:
            await self.app(
                {**scope, "headers": headers, SCOPE_KEY: request_id}, receive, send_with_id
            )
        finally:
            if self.access_log is not None:  # inside the context: with the request's ids
                self.access_log.info(
                    "%s %s %s %.1fms",
                    scope.get("method"),
                    _raw_path(scope),
                    status,
                    (time.monotonic() - started) * 1000,
                )
            reset_context(token)


def _raw_path(scope: Scope) -> str:
    """The path as the client sent it, still percent-encoded: a decoded `%0A` would let a
    client write a line of its own into a text log."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else quote(scope.get("path", ""))
