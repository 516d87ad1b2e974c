"""`JSONResponse` that still answers when stored data holds what JSON cannot carry.

The API refuses non-standard JSON on the way in (`request_body`), but a row written before that
check, or by a DAG file or task, may hold `NaN`, an infinity, a string with a lone surrogate or
a structure nested too deep for the encoder. One such row must not take a whole listing down:
when the strict encoding fails, the content is encoded again with those values replaced
(`null` for the numbers, U+FFFD for the surrogates, `null` for containers below
`MAX_DEPTH`) and a warning is logged. The strict encoding is Starlette's, so a response that
encodes costs nothing extra. Routes that send stored JSON (run `conf`, event `extra`, XCom,
params, rendered fields) use this class instead of Starlette's.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSONResponse

log = logging.getLogger(__name__)

#: Containers nested deeper than this are sent as null once the strict encoding failed.
MAX_DEPTH = 64


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except (ValueError, UnicodeEncodeError, RecursionError) as exc:
            log.warning(
                "A response held values JSON cannot carry (%s); they are sent as null or U+FFFD",
                type(exc).__name__,
            )
            return super().render(sanitize(content))


def sanitize(value: Any, depth: int = 0) -> Any:
    """`value` with non-finite floats and too-deep containers as None, and lone surrogates in
    strings (keys too) as U+FFFD."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return None
        return {_key(k): sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            return None
        return [sanitize(v, depth + 1) for v in value]
    return value


def _key(key: Any) -> Any:
    if isinstance(key, str):
        return _text(key)
    if isinstance(key, float) and not math.isfinite(key):
        return json.dumps(key)  # as `json.dumps` would write the key: "NaN", "Infinity"
    return key


def _text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text
