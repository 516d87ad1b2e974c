"""`aerovane.api.responses.JSONResponse`: strict encoding, and a readable answer when stored
data holds what JSON cannot carry."""

from __future__ import annotations

import json
import logging

import pytest

from aerovane.api.responses import MAX_DEPTH, JSONResponse


def test_encodes_like_starlette_when_it_can() -> None:
    response = JSONResponse({"a": [1, 2.5, "é"]})
    assert response.body == b'{"a":[1,2.5,"\xc3\xa9"]}'


def test_replaces_what_json_cannot_carry(caplog: pytest.LogCaptureFixture) -> None:
    deep: list = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    content = {
        "nan": float("nan"),
        "inf": [float("inf"), float("-inf")],
        "text": "a\ud800b",
        "\udc00": 1,
        float("nan"): 2,
        "deep": deep,
        "fine": {"x": 1},
    }
    with caplog.at_level(logging.WARNING, logger="aerovane.api.responses"):
        body = json.loads(JSONResponse(content).body)
    assert body["nan"] is None and body["inf"] == [None, None]
    assert body["text"] == "a\ufffdb" and body["\ufffd"] == 1 and body["NaN"] == 2
    assert body["fine"] == {"x": 1}
    level, depth = body["deep"], 1
    while level:
        level, depth = level[0], depth + 1
    assert depth == MAX_DEPTH
    assert "cannot carry" in caplog.text
