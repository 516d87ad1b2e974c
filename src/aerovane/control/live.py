"""Applying the environment's configuration to a running process, without restarting it.

The `environment` row holds Airflow config overrides (`section-key` → value), environment
variables and the web server's allowed IP ranges; `config_version` grows with every change. Each
process runs a `ConfigWatcher` that reads `(uuid, config_version)` every half second (one
indexed row, no lock) and, when it moved, installs a new settings snapshot built with the
overrides (`reload_settings`) and puts the variables into `os.environ`, where new task and
command processes inherit them. Nothing is restarted and nothing in flight is interrupted:
requests already running keep the snapshot they started with.

This module depends only on `config` and `db` (the scheduler and task processes import it) and
must not import the API.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.config import ConfigError, Settings, get_settings, reload_settings
from aerovane.db import models
from aerovane.services.loop_service import LoopService

log = logging.getLogger(__name__)

#: How often every process looks at the environment's `config_version`.
POLL_INTERVAL = 0.5
#: The option the web server IP allow-list (`config.webServerNetworkAccessControl`) sets.
ALLOWED_IP_RANGES = ("proxy", "allowed_ip_ranges")

OverrideKey = tuple[str, str]


def split_override_key(name: str) -> OverrideKey:
    """`"api-auth_backends"` → `("api", "auth_backends")` (split at the first `-`)."""
    section, _, key = name.partition("-")
    return section.lower(), key.lower()


def settings_overrides(
    config_overrides: Mapping[str, str], allowed_ip_ranges: list[dict[str, Any]] | None
) -> dict[OverrideKey, str]:
    """What `Settings(overrides=...)` gets for an environment's stored configuration.

    No IP ranges (None) leaves `[proxy] allowed_ip_ranges` as configured; a list, even an empty
    one (deny everyone), replaces it.
    """
    overrides = {split_override_key(name): value for name, value in config_overrides.items()}
    if allowed_ip_ranges is not None:
        overrides[ALLOWED_IP_RANGES] = ",".join(item["value"] for item in allowed_ip_ranges)
    return overrides


@dataclass(frozen=True)
class LiveConfig:
    """The part of an environment a process applies; compared to skip no-op reloads."""

    overrides: tuple[tuple[OverrideKey, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, environment: models.Environment | None) -> LiveConfig:
        if environment is None:
            return cls()
        overrides = settings_overrides(
            environment.config_overrides or {}, environment.allowed_ip_ranges
        )
        return cls(
            overrides=tuple(sorted(overrides.items())),
            env=tuple(sorted((environment.env_variables or {}).items())),
        )

    @property
    def empty(self) -> bool:
        return not self.overrides and not self.env

    def settings(self) -> Settings:
        """A fresh snapshot (environment and file re-read) with these overrides on top."""
        return Settings(overrides=dict(self.overrides))


def current_environment(*, session: Session) -> models.Environment | None:
    """The environment this installation runs: the first one created."""
    return session.scalar(select(models.Environment).order_by(models.Environment.id).limit(1))


def current_version(*, session: Session) -> tuple[str, int] | None:
    """(uuid, config_version) of the current environment: the watcher's cheap read."""
    row = session.execute(
        select(models.Environment.uuid, models.Environment.config_version)
        .order_by(models.Environment.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


class _Applier:
    """The process-wide record of what was applied, so concurrent callers never interleave."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.applied = LiveConfig()
        self.installed: Settings | None = None
        self.seen: tuple[str, int] | None = None
        #: Values the process had before we set a variable (None: it was unset).
        self._original_env: dict[str, str | None] = {}

    def drifted(self) -> bool:
        """Whether someone installed another snapshot over ours (ours must be re-applied)."""
        return not self.applied.empty and get_settings() is not self.installed

    def apply(self, desired: LiveConfig, seen: tuple[str, int] | None) -> bool:
        """Install `desired`; False when there was nothing to do. Raises ConfigError."""
        with self._lock:
            if desired == self.applied and not self.drifted():
                self.seen = seen
                return False
            settings = desired.settings()
            self._set_env(dict(desired.env))
            reload_settings(settings)
            self.applied, self.installed, self.seen = desired, settings, seen
            return True

    def _set_env(self, wanted: dict[str, str]) -> None:
        for name in [n for n in self._original_env if n not in wanted]:
            original = self._original_env.pop(name)
            if original is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = original
        for name, value in wanted.items():
            if name not in self._original_env:
                self._original_env[name] = os.environ.get(name)
            os.environ[name] = value

    def reset(self) -> None:
        """Forget everything applied and restore the variables we changed (tests, shutdown)."""
        with self._lock:
            self._set_env({})
            self.applied, self.installed, self.seen = LiveConfig(), None, None


_applier = _Applier()


def refresh(*, session: Session | None = None) -> bool:
    """Read the environment now and apply it to this process; True when something changed."""
    if session is None:
        from aerovane.db.engine import create_session

        with create_session(readonly=True) as own:
            return refresh(session=own)
    environment = current_environment(session=session)
    seen = None if environment is None else (environment.uuid, environment.config_version)
    return _applier.apply(LiveConfig.of(environment), seen)


def snapshot() -> dict[str, Any] | None:
    """What this process has applied, as plain data a task workload carries; None if nothing.

    The scheduler's watcher keeps this current, so a task process (forked from a zygote that
    predates the change, or started on another machine) gets the environment's overrides and
    variables with its workload instead of reading the environment row itself.
    """
    applied = _applier.applied
    if applied.empty:
        return None
    return {
        "overrides": [[section, key, value] for (section, key), value in applied.overrides],
        "env": dict(applied.env),
    }


def apply_in_task_process(data: Mapping[str, Any] | None) -> None:
    """Apply a workload's `snapshot()` in a new task process.

    A failure is logged and the task runs with the configuration it has.
    """
    if data is None and _applier.applied.empty:
        return
    try:
        overrides = {(s, k): v for s, k, v in (data or {}).get("overrides", ())}
        env = (data or {}).get("env", {})
        desired = LiveConfig(
            overrides=tuple(sorted(overrides.items())), env=tuple(sorted(env.items()))
        )
        _applier.apply(desired, _applier.seen)
    except Exception:
        log.warning("Could not apply the environment's configuration", exc_info=True)


def reset() -> None:
    _applier.reset()


class ConfigWatcher(LoopService):
    """Polls the environment's `config_version` and applies a change within `POLL_INTERVAL`."""

    name = "config-watcher"
    overrun_warning = 2.0

    def __init__(self, interval: float = POLL_INTERVAL) -> None:
        super().__init__(interval)
        self._thread: threading.Thread | None = None
        self._failed_at: tuple[str, int] | None = None

    def run_once(self) -> None:
        from aerovane.db.engine import create_session

        with create_session(readonly=True) as session:
            seen = current_version(session=session)
            if seen == _applier.seen and not _applier.drifted():
                return
            if seen is not None and seen == self._failed_at:
                return  # already reported; wait for the next change
            try:
                if refresh(session=session):
                    log.info("Applied environment configuration version %s", seen and seen[1])
                self._failed_at = None
            except ConfigError as exc:
                self._failed_at = seen
                log.error("Environment configuration version %s not applied: %s", seen, exc)

    def start(self) -> ConfigWatcher:
        self._thread = threading.Thread(target=self.serve, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        super().stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


_watcher_lock = threading.Lock()
_watcher: ConfigWatcher | None = None


def start_watcher() -> ConfigWatcher:
    """Start this process's watcher (once; later calls return the running one)."""
    global _watcher
    with _watcher_lock:
        if _watcher is None or _watcher.stopping:
            _watcher = ConfigWatcher().start()
        return _watcher


def stop_watcher() -> None:
    global _watcher
    with _watcher_lock:
        watcher, _watcher = _watcher, None
    if watcher is not None:
        watcher.stop()
