"""`aerovane plugins`, `providers` and `rotate-fernet-key`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import select

from aerovane.db import models
from aerovane.db.engine import create_session
from tests.cli.conftest import fails, ok

PLUGIN = """
from airflow.plugins_manager import AirflowPlugin


def shout(text):
    return text.upper()


class ShoutPlugin(AirflowPlugin):
    name = "shout_plugin"
    macros = [shout]
"""


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    """Plugins load once per process (per folder); each CLI run is a process of its own."""
    from aerovane.authoring.plugins import reset_plugins

    reset_plugins()
    yield
    reset_plugins()


def test_plugins(runner: CliRunner, fresh_plugins: None) -> None:
    from aerovane.authoring.plugins import reset_plugins
    from aerovane.config import get_settings

    assert ok(runner, "plugins") == "No plugins loaded\n"
    folder = get_settings().plugins_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shout.py").write_text(PLUGIN)
    reset_plugins()
    (listed,) = json.loads(ok(runner, "plugins", "-o", "json"))
    assert listed["name"] == "shout_plugin"
    assert listed["source"] == "$PLUGINS_FOLDER/shout.py"
    assert listed["macros"] == ["shout.shout"]
    assert "shout_plugin" in ok(runner, "plugins", "-o", "plain")


def test_providers(runner: CliRunner) -> None:
    assert json.loads(ok(runner, "providers", "list", "-o", "json")) == []
    assert "package_name" in ok(runner, "providers", "list")
    refused = fails(runner, "providers", "get", "apache-airflow-providers-http")
    assert "No such provider installed" in refused.stderr


def _use_keys(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    from aerovane.config import reload_settings

    monkeypatch.setenv("AEROVANE__CORE__FERNET_KEY", keys)
    reload_settings()


def test_rotate_fernet_key(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    _use_keys(monkeypatch, old)
    ok(runner, "variables", "set", "token", "s3cr3t")
    ok(runner, "connections", "add", "db", "--conn-uri", "postgres://u:pw@h:5432/d?x=1")
    _use_keys(monkeypatch, f"{new},{old}")
    out = ok(runner, "rotate-fernet-key")
    assert "Re-encrypted 1 connection(s), 1 variable(s)" in out
    with create_session(readonly=True) as session:
        stored = session.scalar(select(models.Variable.val).where(models.Variable.key == "token"))
        conn = session.scalar(select(models.Connection).where(models.Connection.conn_id == "db"))
        assert conn is not None and conn.password is not None
        assert Fernet(new.encode()).decrypt(conn.password.encode()) == b"pw"
    assert stored is not None and Fernet(new.encode()).decrypt(stored.encode()) == b"s3cr3t"
    # The old key can go: everything opens with the new one alone.
    _use_keys(monkeypatch, new)
    assert ok(runner, "variables", "get", "token") == "s3cr3t\n"
    _use_keys(monkeypatch, "")
    assert "fernet_key is empty" in fails(runner, "rotate-fernet-key").stderr
