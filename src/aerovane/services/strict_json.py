"""Strict JSON for what clients send: RFC 8259 and nothing Python's `json` adds.

Python's parser accepts `NaN`, `Infinity` and `-Infinity`, and `\\ud800`-style escapes that
decode to a lone surrogate. Stored, either one poisons every later response that holds it (no
JSON encoder may write the first, no UTF-8 encoder the second), so `loads` refuses them, and
refuses arrays and objects nested deeper than a limit, with a message naming the problem;
`check` does the same for a value already parsed (a trigger's `conf` from the CLI or a task).
It owns the rules only: the body-size limit and the HTTP answer are `api.request_body`'s.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aerovane.config import get_settings


class InvalidJson(ValueError):
    """The text is not strict JSON; the message says why."""


class NotJson(InvalidJson):
    """The text is no JSON at all, not even to Python's lenient parser."""


def _reject_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not valid JSON (use a string or null)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise InvalidJson(f"{text} is out of range for a JSON number")
    return value


# A surrogate can only come from a \u escape: raw UTF-8 surrogates fail decoding already.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def loads(data: bytes | str, *, max_depth: int | None = None) -> Any:
    """`json.loads`, strictly: no NaN/Infinity, no lone surrogate, at most `max_depth` levels
    of arrays and objects (default: `[api] maximum_json_nesting_depth`)."""
    if max_depth is None:
        max_depth = get_settings().getint("api", "maximum_json_nesting_depth")
    try:
        value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except InvalidJson:
        raise
    except RecursionError:
        raise InvalidJson(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise NotJson("JSON text is not valid UTF-8") from None
    except ValueError as exc:
        raise NotJson(f"Invalid JSON: {exc}") from None
    if isinstance(data, bytes):
        openings = data.count(b"[") + data.count(b"{")
        escapes = _SURROGATE_ESCAPE_BYTES.search(data)
    else:
        openings = data.count("[") + data.count("{")
        escapes = _SURROGATE_ESCAPE.search(data)
    # Cheap scans first: the walk is only needed when one of them could fail.
    if openings > max_depth or escapes is not None:
        check(value, max_depth=max_depth)
    return value


def check(value: Any, *, max_depth: int | None = None) -> None:
    """Raise `InvalidJson` if `value` (parsed JSON) nests deeper than `max_depth` (default:
    `[api] maximum_json_nesting_depth`), holds a non-finite number or a string that is not
    valid Unicode (a lone surrogate)."""
    if max_depth is None:
        max_depth = get_settings().getint("api", "maximum_json_nesting_depth")
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= max_depth:
                raise InvalidJson(f"JSON nested deeper than {max_depth} levels")
            for key, child in item.items():
                if isinstance(key, str):
                    _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):  # a tuple from Python code is a JSON array
            if depth >= max_depth:
                raise InvalidJson(f"JSON nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidJson(f"{item!r} is not a valid JSON number")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidJson(
            "JSON string holds a lone surrogate (such as \\ud800), which is not valid Unicode"
        ) from None
