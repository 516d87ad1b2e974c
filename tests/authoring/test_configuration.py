"""`airflow.configuration.conf`: Airflow's read methods over Aerovane's settings, read-only,
without secrets."""

from __future__ import annotations

import pytest

from aerovane.authoring.configuration import conf
from aerovane.authoring.exceptions import AerovaneConfigException
from aerovane.config import reload_settings


def test_reads_effective_settings_as_airflow_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "7")
    reload_settings()
    assert conf.get("core", "parallelism") == "7"
    assert conf.getint("core", "parallelism") == 7
    assert conf.getfloat("CORE", "Parallelism") == 7.0
    assert conf.getboolean("core", "load_examples") is True
    assert conf.get("core", "dags_folder").endswith("/dags")
    assert conf.has_option("core", "dags_folder")
    section = conf.getsection("core")
    assert section is not None and section["parallelism"] == 7
    assert conf.getsection("no_such_section") is None
    assert not hasattr(conf, "set")


def test_unknown_options_raise_unless_a_fallback_is_given() -> None:
    with pytest.raises(AerovaneConfigException, match="not found in config"):
        conf.get("core", "no_such_option")
    assert conf.get("core", "no_such_option", fallback="x") == "x"
    assert conf.getboolean("custom", "flag", fallback=False) is False
    assert conf.getint("custom", "n", fallback=3) == 3
    assert not conf.has_option("core", "no_such_option")


def test_secrets_are_not_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEROVANE__DATABASE__SQL_ALCHEMY_CONN", "sqlite:////tmp/secret-path.db")
    reload_settings()
    with pytest.raises(AerovaneConfigException, match="sensitive") as err:
        conf.get("database", "sql_alchemy_conn")
    assert "secret-path" not in str(err.value)
    assert not conf.has_option("core", "fernet_key")
    assert "sql_alchemy_conn" not in (conf.getsection("database") or {})
