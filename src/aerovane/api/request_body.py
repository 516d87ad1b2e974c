"""`RequestBodyMiddleware`: every request body is bounded and, when it is JSON, strict, before
any route parses it.

The body is read here, up to `[api] maximum_request_body_size` bytes: a larger `Content-Length`
is refused before a byte is read, and a chunked body is refused as soon as it grows past the
limit (413). A JSON body (no content type, `application/json` or `*/*+json`, which is what
FastAPI parses as JSON) that Python's lenient parser reads must also be strict JSON
(`strict_json.loads`) no deeper than `[api] maximum_json_nesting_depth`, or it gets 400 naming
the problem. A body that is no JSON at all goes on to its route, which refuses it as before
(or, like the token endpoint, reads it as a form). The app receives the buffered body
unchanged. Requests without a body (no `Content-Length`, no `Transfer-Encoding`) pass straight
through.

Errors are problem+json, or whatever `respond` makes of them (the control plane answers in
Google's shape); routes that parse strictly themselves (`parse_their_own`) get the body as it
came. This module must not know any route.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerovane.api.errors import problem_response
from aerovane.config import get_settings
from aerovane.services import strict_json

#: Builds the error response for (scope, status, detail).
Responder = Callable[[Scope, int, str], Response]


def problem_responder(scope: Scope, status: int, detail: str) -> Response:
    return problem_response(status, detail=detail)


class _Disconnected(Exception):
    pass


class _TooLarge(Exception):
    pass


class RequestBodyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        respond: Responder = problem_responder,
        parse_their_own: tuple[str, ...] = (),
    ) -> None:
        """`parse_their_own`: path prefixes whose routes parse JSON with `strict_json`
        themselves, after their own authentication and in their own error shape."""
        self.app = app
        self.respond = respond
        self.parse_their_own = parse_their_own

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length_header = headers.get("content-length")
        if length_header is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        limit = settings.getint("api", "maximum_request_body_size")
        too_large = f"The request body is larger than the {limit} bytes this server accepts"
        declared = length_header.strip() if length_header is not None else ""
        if declared.isdigit() and int(declared) > limit:
            await self.respond(scope, 413, too_large)(scope, receive, send)
            return
        try:
            body = await _read_body(receive, limit)
        except _Disconnected:
            return
        except _TooLarge:
            await self.respond(scope, 413, too_large)(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if (
            body
            and _is_json(headers.get("content-type"))
            and not path.startswith(self.parse_their_own)
        ):
            depth = settings.getint("api", "maximum_json_nesting_depth")
            try:
                strict_json.loads(body, max_depth=depth)
            except strict_json.NotJson:
                pass  # the route refuses it as it always has, in its own error shape
            except strict_json.InvalidJson as exc:
                detail = f"The request body is not acceptable JSON: {exc}"
                await self.respond(scope, 400, detail)(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then the client's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _is_json(content_type: str | None) -> bool:
    """What FastAPI parses as JSON: no content type, or a `json` / `+json` media type."""
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))
