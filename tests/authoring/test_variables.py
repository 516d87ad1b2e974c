"""Variable and Connection lookups through the engine's secrets functions."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from aerovane.authoring import Connection, Variable
from aerovane.authoring.exceptions import AerovaneNotFoundException


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in `aerovane.db.secrets` module backed by dicts (no database involved)."""
    data: dict[str, Any] = {"variables": {}, "descriptions": {}, "connections": {}}
    fake = types.ModuleType("aerovane.db.secrets")

    def set_variable(key: str, value: str, description: str | None = None) -> None:
        data["variables"][key] = value
        data["descriptions"][key] = description

    fake.get_variable = data["variables"].get  # type: ignore[attr-defined]
    fake.set_variable = set_variable  # type: ignore[attr-defined]
    fake.get_connection = data["connections"].get  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aerovane.db.secrets", fake)
    return data


def test_variable_get_set_and_defaults(store: dict[str, Any]) -> None:
    Variable.set("plain", 42, description="the answer")
    assert store["variables"]["plain"] == "42" and store["descriptions"]["plain"] == "the answer"
    assert Variable.get("plain") == "42"
    Variable.set("js", {"a": [1, 2]}, serialize_json=True)
    assert Variable.get("js", deserialize_json=True) == {"a": [1, 2]}
    assert Variable.get("missing", default_var=None) is None
    assert Variable.get("missing", default_var="d") == "d"
    with pytest.raises(KeyError, match="Variable missing does not exist"):
        Variable.get("missing")


def test_variable_setdefault(store: dict[str, Any]) -> None:
    assert Variable.setdefault("k", "first") == "first"
    assert Variable.setdefault("k", "second") == "first"
    assert Variable.setdefault("j", {"x": 1}, deserialize_json=True) == {"x": 1}
    assert Variable.get("j", deserialize_json=True) == {"x": 1}


def test_connection_from_secrets(store: dict[str, Any]) -> None:
    store["connections"]["api"] = {
        "conn_id": "api",
        "conn_type": "http",
        "host": "example.com",
        "schema": None,
        "login": "user",
        "password": "p@ss word",
        "port": "8443",
        "extra": '{"timeout": "5"}',
    }
    conn = Connection.get_connection_from_secrets("api")
    assert conn.port == 8443 and conn.extra_dejson == {"timeout": "5"}
    assert "p@ss" not in repr(conn)
    assert conn.get_uri() == "http://user:p%40ss%20word@example.com:8443/?timeout=5"
    with pytest.raises(AerovaneNotFoundException, match="The conn_id `nope` isn't defined"):
        Connection.get_connection_from_secrets("nope")


def test_connection_uri_variants() -> None:
    assert Connection("a", "postgres", host="db", schema="app", port=5432).get_uri() == (
        "postgres://db:5432/app"
    )
    assert Connection("b", "my_type", host="h").get_uri() == "my-type://h"
    # Extras that do not survive a query-string round trip are carried whole in __extra__.
    nested = Connection("c", "http", extra='{"a": {"b": 1}}')
    assert nested.get_uri() == "http:///?__extra__=%7B%22a%22%3A+%7B%22b%22%3A+1%7D%7D"
    assert Connection("d", "http", host="https://site.org").get_uri() == "http://https://site.org"
    assert Connection("e", "x", extra="not json").extra_dejson == {}
    assert Connection("f", "x", extra={"k": "v"}).extra == '{"k": "v"}'  # type: ignore[arg-type]
