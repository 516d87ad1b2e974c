"""Configuration: Airflow-compatible sections and keys, layered from defaults, file and env.

`get_settings()` returns the current immutable snapshot; `reload_settings()` replaces it (the
control plane's live changes and the tests use that). Code reads settings through here and never
reads `os.environ` for configuration itself.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from aerovane.config.permissions import create_private_file, private_dir, tighten_file
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
    """Create `$AEROVANE_HOME` (0700), its DAG and log folders and a config file (0600) holding
    fresh secrets.

    Secrets are generated once and written to the file so that encrypted data stays readable
    across restarts; an existing file is never rewritten, only made owner-only if it was not
    (see `aerovane.config.permissions`).
    """
    settings = get_settings()
    home = settings.home
    private_dir(home)
    cfg: Path = settings.config_file
    if cfg.exists():
        tighten_file(cfg)
    else:
        from cryptography.fernet import Fernet

        if not cfg.parent.exists():
            private_dir(cfg.parent)
        text = (
            "# Aerovane configuration. Section and key names follow airflow.cfg;\n"
            "# AEROVANE__SECTION__KEY and AIRFLOW__SECTION__KEY environment variables override.\n"
            "[core]\n"
            f"fernet_key = {Fernet.generate_key().decode()}\n\n"
            "[webserver]\n"
            f"secret_key = {secrets.token_urlsafe(32)}\n"
        )
        create_private_file(cfg, text)
        settings = reload_settings()
    settings.dags_folder.mkdir(parents=True, exist_ok=True)
    if not settings.base_log_folder.exists():
        private_dir(settings.base_log_folder)  # task logs may print what tasks were handed
    return settings
