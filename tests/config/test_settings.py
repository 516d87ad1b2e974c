from __future__ import annotations

from pathlib import Path

import pytest

from aerovane.config import ConfigError, Settings


def make(tmp_path: Path, env: dict[str, str] | None = None, cfg: str | None = None) -> Settings:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if cfg is not None:
        (home / "aerovane.cfg").write_text(cfg)
    return Settings(home=home, environ={"AEROVANE_HOME": str(home), **(env or {})})


def test_defaults_expand_home(tmp_path: Path) -> None:
    s = make(tmp_path)
    assert s.getint("core", "parallelism") == 32
    assert s.dags_folder == tmp_path / "home" / "dags"
    assert s.sql_alchemy_conn == f"sqlite:///{tmp_path / 'home' / 'aerovane.db'}"
    assert s.getboolean("core", "dags_are_paused_at_creation") is True


def test_precedence_default_file_airflow_aerovane(tmp_path: Path) -> None:
    cfg = "[core]\nparallelism = 8\nmax_active_runs_per_dag = 3\n"
    s = make(tmp_path, cfg=cfg)
    assert s.getint("core", "parallelism") == 8
    s = make(tmp_path, {"AIRFLOW__CORE__PARALLELISM": "9"}, cfg)
    assert s.getint("core", "parallelism") == 9
    assert s.source("core", "parallelism") == "AIRFLOW__CORE__PARALLELISM"
    s = make(
        tmp_path, {"AIRFLOW__CORE__PARALLELISM": "9", "AEROVANE__CORE__PARALLELISM": "10"}, cfg
    )
    assert s.getint("core", "parallelism") == 10
    assert s.getint("core", "max_active_runs_per_dag") == 3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AEROVANE__CORE__PARALLELISM": "lots"},
            "[core] parallelism = 'lots' (from "
            "AEROVANE__CORE__PARALLELISM): expected an integer >= 1",
        ),
        ({"AEROVANE__CORE__LOAD_EXAMPLES": "maybe"}, "[core] load_examples"),
        (
            {"AEROVANE__WEBSERVER__EXPOSE_CONFIG": "sometimes"},
            "expected True, False or non-sensitive-only",
        ),
        ({"AEROVANE__CORE__NOPE": "1"}, "[core] nope is not a known option"),
        (
            {"AEROVANE__API__AUTH_BACKENDS": "airflow.api.auth.backend.kerberos"},
            "unknown auth backend",
        ),
        ({"AEROVANE__DATABASE__SQL_ALCHEMY_CONN": "mysql://x"}, "expected a sqlite:///"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        make(tmp_path, env)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_airflow_variables_are_ignored(tmp_path: Path) -> None:
    s = make(tmp_path, {"AIRFLOW__CELERY__WORKER_CONCURRENCY": "4"})
    assert s.getint("core", "parallelism") == 32


def test_unknown_option_in_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[core\] frobnicate: unknown option"):
        make(tmp_path, cfg="[core]\nfrobnicate = 1\n")
    with pytest.raises(ConfigError, match="unknown section"):
        make(tmp_path, cfg="[nosuch]\nx = 1\n")


def test_secrets_masked_and_legacy_auth_backend(tmp_path: Path) -> None:
    s = make(
        tmp_path,
        {
            "AEROVANE__CORE__FERNET_KEY": "",
            "AIRFLOW__API__AUTH_BACKEND": "airflow.api.auth.backend.deny_all",
        },
    )
    shown = {(o.section, o.key): v for o, v, _ in s.items()}
    assert shown[("database", "sql_alchemy_conn")] == "< hidden >"
    assert s.auth_backend_names == ["airflow.api.auth.backend.deny_all"]
    s = make(
        tmp_path,
        {
            "AIRFLOW__API__AUTH_BACKEND": "airflow.api.auth.backend.deny_all",
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
        },
    )
    assert s.auth_backend_names == ["airflow.api.auth.backend.basic_auth"]


def test_cli_config_commands(aerovane_home: Path) -> None:
    from click.testing import CliRunner

    from aerovane.cli import _register, cli

    _register()
    runner = CliRunner()
    result = runner.invoke(cli, ["config", "get-value", "core", "parallelism"])
    assert result.exit_code == 0 and result.output.strip() == "32"
    result = runner.invoke(cli, ["config", "get-value", "core", "nope"])
    assert result.exit_code == 1 and "[core] nope: unknown option" in result.output
    result = runner.invoke(cli, ["config", "list", "--section", "core"])
    assert "fernet_key = < hidden >" in result.output


def test_base_url_follows_the_port_unless_set(tmp_path: Path) -> None:
    """Key files' token_uri and the environment's airflowUri come from here."""
    assert make(tmp_path).base_url == "http://localhost:8080"
    port = {"AEROVANE__WEBSERVER__WEB_SERVER_PORT": "9191"}
    assert make(tmp_path, port).base_url == "http://localhost:9191"
    tls = {**port, "AEROVANE__PROXY__TLS_CERT_FILE": "/etc/cert.pem"}
    assert make(tmp_path, tls).base_url == "https://localhost:9191"
    explicit = {**port, "AIRFLOW__WEBSERVER__BASE_URL": "https://composer.example.com/"}
    assert make(tmp_path, explicit).base_url == "https://composer.example.com"
