"""Strict JSON: what RFC 8259 allows and Python's parser would otherwise let through."""

from __future__ import annotations

import pytest

from aerovane.services import strict_json
from aerovane.services.strict_json import InvalidJson, NotJson


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": NaN}', "NaN is not valid JSON"),
        ("[Infinity]", "Infinity is not valid JSON"),
        ("[-Infinity]", "-Infinity is not valid JSON"),
        ("[1e999]", "out of range"),
        ('"\\ud800"', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ("[" * 65 + "]" * 65, "nested deeper than 64 levels"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
    ],
)
def test_refused(text: str, message: str) -> None:
    for data in (text, text.encode()):
        with pytest.raises(InvalidJson, match=message) as caught:
            strict_json.loads(data, max_depth=64)
        assert not isinstance(caught.value, NotJson)


@pytest.mark.parametrize("data", [b"{nope", b"\xff\xfe{", b"", b"[1,]"])
def test_no_json_at_all(data: bytes) -> None:
    with pytest.raises(NotJson):
        strict_json.loads(data, max_depth=64)


def test_accepted() -> None:
    text = '{"pair": "\\ud83d\\ude00", "big": 1e308, "nul": "\\u0000", "deep": ' + (
        "[" * 63 + "]" * 63 + "}"
    )
    value = strict_json.loads(text, max_depth=64)
    assert value["pair"] == "😀" and value["big"] == 1e308 and value["nul"] == "\x00"


def test_check_of_a_parsed_value() -> None:
    strict_json.check({"a": [1, 2.5, "x", None, True], 3: "int key"}, max_depth=2)
    bad_values = ({"a": float("nan")}, {"a": "\udc00"}, {"\ud800": 1}, {"a": [[1]]})
    for bad in (*bad_values, {"a": (1, float("inf"))}):
        with pytest.raises(InvalidJson):
            strict_json.check(bad, max_depth=2)
