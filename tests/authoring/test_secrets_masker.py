"""The secrets masker: sensitive names, registered secrets, text and structure redaction, and
what Variable and Connection lookups register."""

from __future__ import annotations

import json
import logging
import sys
import types
from typing import Any

import pytest

from aerovane.authoring import Connection, Variable
from aerovane.authoring import mask_secret as exported_mask_secret
from aerovane.authoring.secrets_masker import (
    SecretsMasker,
    get_masker,
    mask_secret,
    redact,
    should_hide_value_for_key,
)
from aerovane.config import reload_settings


@pytest.fixture
def masker() -> SecretsMasker:
    return SecretsMasker()


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "db_PASSWORD",
        "api_key",
        "my_apikey",
        "access_token",
        "aws_secret",
        "Authorization",
        "private_key",
        "passphrase",
        "passwd",
        "keyfile_dict",
        "service_account_json",
        " token ",
    ],
)
def test_default_sensitive_names(name: str) -> None:
    assert should_hide_value_for_key(name)


@pytest.mark.parametrize("name", ["host", "login", "user", "region", "", None, 3])
def test_ordinary_names(name: Any) -> None:
    assert not should_hide_value_for_key(name)


def test_configured_sensitive_names_and_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not should_hide_value_for_key("bucket_credentials")
    monkeypatch.setenv("AEROVANE__CORE__SENSITIVE_VAR_CONN_NAMES", " Credentials , pin")
    reload_settings()
    assert should_hide_value_for_key("bucket_credentials")
    assert should_hide_value_for_key("PIN_code")
    assert should_hide_value_for_key("password")
    monkeypatch.setenv("AEROVANE__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS", "False")
    reload_settings()
    assert not should_hide_value_for_key("password")
    assert not should_hide_value_for_key("bucket_credentials")


def test_registered_secret_is_replaced_in_text(masker: SecretsMasker) -> None:
    assert not masker.active
    assert masker.redact_text("nothing known yet hunter22") == "nothing known yet hunter22"
    masker.add_mask("hunter22")
    assert masker.active
    assert masker.redact_text("pw=hunter22, again hunter22.") == "pw=***, again ***."


def test_url_quoted_form_is_masked_too(masker: SecretsMasker) -> None:
    masker.add_mask("p@ss word/1")
    assert masker.redact_text("postgres://u:p%40ss%20word%2F1@h/db") == "postgres://u:***@h/db"


def test_repr_and_json_forms_are_masked(masker: SecretsMasker) -> None:
    secret = "pa'ss\"w\\rd\nnext-line"
    masker.add_mask(secret)
    for shown in (repr({"k": secret}), json.dumps({"k": secret}), str([secret]), secret):
        masked = masker.redact_text(shown)
        assert "pa'ss" not in masked and "next-line" not in masked, masked
    assert masker.redact_text(repr([secret])) == "['***']"
    assert masker.redact_text(json.dumps([secret])) == '["***"]'


def test_longest_secret_wins(masker: SecretsMasker) -> None:
    masker.add_mask("abcde")
    masker.add_mask("abcdefghij")
    assert masker.redact_text("x abcdefghij y abcde") == "x *** y ***"


def test_short_secrets_are_not_masked(
    masker: SecretsMasker, monkeypatch: pytest.MonkeyPatch
) -> None:
    masker.add_mask("abcd")
    assert masker.redact_text("abcd") == "abcd" and not masker.active
    monkeypatch.setenv("AEROVANE__LOGGING__MIN_LENGTH_MASKED_SECRET", "2")
    reload_settings()
    masker.add_mask("ab")
    assert masker.redact_text("ab cd") == "*** cd"


def test_regex_characters_are_literal(masker: SecretsMasker) -> None:
    masker.add_mask("a.b*c+d(e")
    assert masker.redact_text("a.b*c+d(e aXb*c+d(e") == "*** aXb*c+d(e"


def test_multiline_secret_is_masked_line_by_line(masker: SecretsMasker) -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END KEY-----"
    masker.add_mask(key)
    assert masker.redact_text(key) == "***"
    assert masker.redact_text("line: MIIEvQIBADANBgkqhkiG9w0\n") == "line: ***\n"


def test_named_secret_is_masked_only_under_a_sensitive_name(masker: SecretsMasker) -> None:
    masker.add_mask("eu-west-12", "region")
    masker.add_mask("s3cr3t-value", "my_api_key")
    assert masker.redact_text("eu-west-12 s3cr3t-value") == "eu-west-12 ***"


def test_dict_and_iterable_secrets(masker: SecretsMasker) -> None:
    masker.add_mask(
        {"host": "db.example", "password": "pw-in-dict", "nested": {"token": "tk-1234"}}
    )
    masker.add_mask(["first-secret", "second-secret"])
    text = "db.example pw-in-dict tk-1234 first-secret second-secret"
    assert masker.redact_text(text) == "db.example *** *** *** ***"


def test_redact_structures_by_key_name(masker: SecretsMasker) -> None:
    masker.add_mask("known-secret")
    value = {
        "host": "db.example",
        "password": "anything",
        "Api_Key": ["k1", "k2"],
        "headers": {"Authorization": "Bearer x", "accept": "json"},
        "note": "uses known-secret",
        "count": 3,
        "items": ({"token": "t"}, "known-secret"),
        "secret_number": 42,
    }
    assert masker.redact(value) == {
        "host": "db.example",
        "password": "***",
        "Api_Key": ["***", "***"],
        "headers": {"Authorization": "***", "accept": "json"},
        "note": "uses ***",
        "count": 3,
        "items": ({"token": "***"}, "***"),
        "secret_number": 42,
    }
    assert masker.redact("plain", "password") == "***"
    assert masker.redact({"a": "b"}, "client_secret") == {"a": "***"}


def test_redact_stops_at_max_depth(masker: SecretsMasker) -> None:
    masker.add_mask("deep-secret")
    nested: Any = "deep-secret"
    for _ in range(8):
        nested = [nested]
    shallow = masker.redact([["deep-secret"]])
    assert shallow == [["***"]]
    assert "deep-secret" in repr(masker.redact(nested))  # beyond 5 levels: left alone
    assert "***" in repr(masker.redact(nested, max_depth=10))


def test_logging_filter_redacts_arguments(masker: SecretsMasker) -> None:
    masker.add_mask("filter-secret")
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "%s %s", ({"password": "p"}, "filter-secret"), None
    )
    assert masker.filter(record)
    assert record.getMessage() == "{'password': '***'} ***"
    mapping = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "%(token)s", ({"token": "abcdefg"},), None
    )
    masker.filter(mapping)
    assert mapping.getMessage() == "***"


def test_mask_secret_registers_in_the_process_masker() -> None:
    assert exported_mask_secret is mask_secret
    mask_secret("")  # nothing to mask, no error
    mask_secret("process-wide-secret-1")
    mask_secret("not-sensitive-value-1", "colour")
    assert redact("a process-wide-secret-1 b not-sensitive-value-1") == (
        "a *** b not-sensitive-value-1"
    )
    assert get_masker().redact_text("process-wide-secret-1") == "***"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stand-in `aerovane.db.secrets` backed by dicts (the real one is exercised end to end
    in tests/engine/test_secrets_masking.py)."""
    data: dict[str, Any] = {"variables": {}, "connections": {}}
    fake = types.ModuleType("aerovane.db.secrets")
    fake.get_variable = data["variables"].get  # type: ignore[attr-defined]
    fake.get_connection = data["connections"].get  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aerovane.db.secrets", fake)
    return data


def test_variable_get_masks_sensitive_names_only(store: dict[str, Any]) -> None:
    store["variables"].update(
        {
            "vendor_api_key": "var-key-value-1",
            "greeting": "var-plain-value-1",
            "settings_json": '{"password": "var-json-pw-1", "region": "var-region-1"}',
            "service_secret": '{"id": "var-whole-json-1"}',
        }
    )
    assert Variable.get("vendor_api_key") == "var-key-value-1"
    assert Variable.get("greeting") == "var-plain-value-1"
    Variable.get("settings_json", deserialize_json=True)
    Variable.get("service_secret", deserialize_json=True)
    text = "var-key-value-1 var-plain-value-1 var-json-pw-1 var-region-1 var-whole-json-1"
    assert redact(text) == "*** var-plain-value-1 *** var-region-1 ***"


def test_connection_masks_password_and_sensitive_extras(store: dict[str, Any]) -> None:
    store["connections"]["svc"] = {
        "conn_id": "svc",
        "conn_type": "http",
        "host": "conn-host.example",
        "login": "conn-login-1",
        "password": "conn-pw/1 x",
        "extra": '{"api_token": "conn-extra-token-1", "timeout": "conn-timeout-1"}',
    }
    conn = Connection.get_connection_from_secrets("svc")
    text = f"{conn.host} {conn.login} {conn.password} {conn.get_uri()} {conn.extra}"
    masked = redact(text)
    assert "conn-pw" not in masked and "conn-extra-token-1" not in masked
    assert "conn-host.example" in masked and "conn-login-1" in masked
    assert "conn-timeout-1" in masked
