"""`[core] sensitive_var_conn_names` and `hide_sensitive_var_conn_fields` govern what the API
hides, as they govern the task log: the same rule (`aerovane.authoring.secrets_masker`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aerovane.config import reload_settings

EXTRA = '{"bucket_credentials": "c-123", "password": "p-456", "region": "eu"}'


def _seed(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    body = {"connection_id": "gcs", "conn_type": "http", "password": "pw-789", "extra": EXTRA}
    assert client.post("/connections", json=body, auth=admin).status_code == 200
    for key in ("bucket_credentials", "region"):
        body = {"key": key, "value": f"value-of-{key}"}
        assert client.post("/variables", json=body, auth=admin).status_code == 200


def test_configured_names_are_hidden(
    client: httpx.Client, admin: httpx.BasicAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROVANE__CORE__SENSITIVE_VAR_CONN_NAMES", "credentials")
    reload_settings()
    _seed(client, admin)
    connection = client.get("/connections/gcs", auth=admin).json()
    assert connection["extra"] == (
        '{"bucket_credentials": "***", "password": "***", "region": "eu"}'
    )
    assert "pw-789" not in client.get("/connections", auth=admin).text
    variables = {
        v["key"]: v["value"] for v in client.get("/variables", auth=admin).json()["variables"]
    }
    assert variables == {"bucket_credentials": "***", "region": "value-of-region"}


def test_hiding_can_be_switched_off(
    client: httpx.Client, admin: httpx.BasicAuth, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AEROVANE__CORE__HIDE_SENSITIVE_VAR_CONN_FIELDS", "False")
    reload_settings()
    _seed(client, admin)
    connection = client.get("/connections/gcs", auth=admin).json()
    assert connection["extra"] == EXTRA  # extras as stored; the password is still never shown
    assert "pw-789" not in client.get("/connections/gcs", auth=admin).text


def test_stored_rendered_fields_are_redacted_by_name(
    client: httpx.Client, accounts: dict[str, Any]
) -> None:
    """Rows written before the task runtime masked rendered fields still hide their secrets."""
    import datetime as dt

    from tests.api.conftest import add_dag, add_run, update_ti

    add_dag("etl")
    add_run("etl", "run_1", logical_date=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    rendered = {
        "bash_command": "echo hi",
        "env": {"API_TOKEN": "tok-1", "PLAIN": "visible"},
        "password": "pw-2",
    }
    update_ti("etl", "run_1", "extract", rendered_fields=rendered)
    url = "/dags/etl/dagRuns/run_1/taskInstances/extract"
    shown = client.get(url, auth=accounts["Viewer"].auth).json()["rendered_fields"]
    assert shown == {
        "bash_command": "echo hi",
        "env": {"API_TOKEN": "***", "PLAIN": "visible"},
        "password": "***",
    }
