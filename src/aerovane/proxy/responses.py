"""The proxy's own answers, shaped like IAP's: short `text/html` bodies marked with
`x-goog-iap-generated-response: true`, so clients (and people) can tell them from the app's."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import Response

GENERATED = {"x-goog-iap-generated-response": "true", "cache-control": "no-store"}
HTML = "text/html; charset=utf-8"

INVALID_CREDENTIALS = "Invalid IAP credentials: "
EMPTY_TOKEN = "empty token"

_FORBIDDEN_PAGE = """<!DOCTYPE html>
<html lang=en>
<meta charset=utf-8>
<meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
<title>Error 403 (Forbidden)</title>
<style>body{font:15px/22px arial,sans-serif;margin:7% auto 0;max-width:390px;padding:30px}
p{margin:11px 0 22px}ins{color:#777;text-decoration:none}</style>
<p><b>403.</b> <ins>That's an error.</ins>
<p>You don't have access. {detail}
<ins>That's all we know.</ins>
</html>
"""


def credentials_error(
    reason: str, *, status: int = 401, headers: Mapping[str, str] | None = None
) -> Response:
    """`Invalid IAP credentials: <reason>` as IAP words it (reason never holds a token)."""
    return Response(
        INVALID_CREDENTIALS + reason,
        status_code=status,
        media_type=HTML,
        headers={**GENERATED, **(headers or {})},
    )


def access_denied(email: str) -> Response:
    """The 403 page for an authenticated principal the access policy does not admit."""
    detail = (
        f"{_escape(email)} does not hold roles/iap.httpsResourceAccessor on this application. "
        "Ask an administrator for access, or sign in as another account."
    )
    return Response(
        _FORBIDDEN_PAGE.replace("{detail}", detail),
        status_code=403,
        media_type=HTML,
        headers=GENERATED,
    )


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
