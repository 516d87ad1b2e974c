"""Configuration: Airflow-compatible sections and keys, layered from defaults, file and env.

`get_settings()` returns the current immutable snapshot; `reload_settings()` replaces it (the
control plane's live changes and the tests use that). Code reads settings through here and never
reads `os.environ` for configuration itself.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from aerovane.config.schema import OPTION_INDEX, OPTIONS, SECTIONS, Option
from aerovane.config.settings import ConfigError, Settings, default_home

__all__ = [
    "OPTIONS",
    "OPTION_INDEX",
    "SECTIONS",
    "ConfigError",
    "Option",
    "Settings",
    "default_home",
    "ensure_home",
    "get_settings",
    "reload_settings",
]

_lock = threading.Lock()
_current: Settings | None = None


def get_settings() -> Settings:
    global _current
    settings = _current
    if settings is None:
        with _lock:
            if _current is None:
                _current = Settings()
            settings = _current
    return settings


def reload_settings(settings: Settings | None = None) -> Settings:
    """Install `settings` (or a fresh load) as the current snapshot and return it."""
    global _current
    with _lock:
        _current = settings if settings is not None else Settings()
        return _current


def ensure_home() -> Settings:
    """Create `$AEROVANE_HOME`, its DAG and log folders and a config file holding fresh secrets.

    Secrets are generated once and written to the file (mode 0600) so that encrypted data stays
    readable across restarts; an existing file is never rewritten.
    """
    settings = get_settings()
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    cfg: Path = settings.config_file
    if not cfg.exists():
        from cryptography.fernet import Fernet

        cfg.parent.mkdir(parents=True, exist_ok=True)
        text = (
            "# Aerovane configuration. Section and key names follow airflow.cfg;\n"
            "# AEROVANE__SECTION__KEY and AIRFLOW__SECTION__KEY environment variables override.\n"
            "[core]\n"
            f"fernet_key = {Fernet.generate_key().decode()}\n\n"
            "[webserver]\n"
            f"secret_key = {secrets.token_urlsafe(32)}\n"
        )
        cfg.touch(mode=0o600)
        cfg.write_text(text, encoding="utf-8")
        settings = reload_settings()
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    settings.base_log_folder.mkdir(parents=True, exist_ok=True)
    return settings
