"""Typed, validated settings assembled from defaults, the INI file and environment variables.

Precedence, lowest first: built-in defaults < `$AEROVANE_HOME/aerovane.cfg` (or
`$AEROVANE_CONFIG`) < `AIRFLOW__SECTION__KEY` < `AEROVANE__SECTION__KEY`. Every value is parsed
once, at load time, so a bad value fails start-up with one line naming where it came from.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from aerovane.config.schema import OPTION_INDEX, OPTIONS, SECTIONS, InvalidValue, Option


class ConfigError(Exception):
    """A configuration problem, phrased as one line for the operator."""


@dataclass(frozen=True)
class Value:
    raw: str
    parsed: object
    source: str


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    home = env.get("AEROVANE_HOME") or str(Path("~/aerovane").expanduser())
    return Path(home).expanduser().resolve()


def _expand(raw: str, home: Path) -> str:
    return raw.replace("{AEROVANE_HOME}", str(home)).replace("{AIRFLOW_HOME}", str(home))


class Settings:
    """An immutable snapshot of the configuration.

    `overrides` sit above everything else; the control plane uses them to change settings live
    by building a new snapshot, never by mutating this one.
    """

    def __init__(
        self,
        *,
        home: Path | None = None,
        environ: Mapping[str, str] | None = None,
        config_file: Path | None = None,
        overrides: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        self.home = home or default_home(env)
        self.config_file = config_file or Path(
            env.get("AEROVANE_CONFIG") or self.home / "aerovane.cfg"
        )
        self.environ = env
        self._values: dict[tuple[str, str], Value] = {}
        raw: dict[tuple[str, str], tuple[str, str]] = {
            (o.section, o.key): (o.default, "default") for o in OPTIONS
        }
        raw.update(self._read_file())
        raw.update(self._read_env("AIRFLOW__", strict=False))
        raw.update(self._read_env("AEROVANE__", strict=True))
        for key, value in (overrides or {}).items():
            if key not in OPTION_INDEX:
                raise ConfigError(f"[{key[0]}] {key[1]}: unknown option")
            raw[key] = (value, "override")
        for key, (value, source) in raw.items():
            option = OPTION_INDEX[key]
            expanded = _expand(value, self.home)
            try:
                parsed = option.parse(expanded)
            except InvalidValue as exc:
                raise ConfigError(
                    f"[{option.section}] {option.key} = {self._shown(option, value)!r} "
                    f"(from {source}): {exc}"
                ) from None
            self._values[key] = Value(expanded, parsed, source)
        self._check_cross_field()

    @staticmethod
    def _shown(option: Option, value: str) -> str:
        return "< hidden >" if option.sensitive else value

    def _read_file(self) -> dict[tuple[str, str], tuple[str, str]]:
        if not self.config_file.exists():
            return {}
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(self.config_file, encoding="utf-8")
        except configparser.Error as exc:
            first = str(exc).splitlines()[0]
            raise ConfigError(f"{self.config_file}: cannot be parsed: {first}") from None
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for section in parser.sections():
            if section not in SECTIONS:
                raise ConfigError(
                    f"{self.config_file}: unknown section [{section}]; known sections: "
                    + ", ".join(SECTIONS)
                )
            for key, value in parser.items(section):
                if (section, key) not in OPTION_INDEX:
                    raise ConfigError(f"{self.config_file}: [{section}] {key}: unknown option")
                found[(section, key)] = (value, str(self.config_file))
        return found

    def _read_env(self, prefix: str, *, strict: bool) -> dict[tuple[str, str], tuple[str, str]]:
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for name, value in self.environ.items():
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix) :].split("__")
            if len(parts) != 2:
                if strict:
                    raise ConfigError(f"{name}: expected {prefix}SECTION__KEY")
                continue
            key = (parts[0].lower(), parts[1].lower())
            if key not in OPTION_INDEX:
                if strict:
                    raise ConfigError(f"{name}: [{key[0]}] {key[1]} is not a known option")
                # Airflow deployments carry many AIRFLOW__ variables Aerovane has no use for.
                continue
            found[key] = (value, name)
        return found

    def _check_cross_field(self) -> None:
        from aerovane.auth.backends.registry import resolve_backend_names

        try:
            resolve_backend_names(self.auth_backend_names)
        except ValueError as exc:
            raise ConfigError(f"[api] auth_backends: {exc}") from None

    # -- access -------------------------------------------------------------------------------

    def get(self, section: str, key: str) -> object:
        try:
            return self._values[(section, key)].parsed
        except KeyError:
            raise ConfigError(f"[{section}] {key}: unknown option") from None

    def getstr(self, section: str, key: str) -> str:
        return str(self.get(section, key))

    def getint(self, section: str, key: str) -> int:
        value = self.get(section, key)
        assert isinstance(value, int) and not isinstance(value, bool), (section, key)
        return value

    def getfloat(self, section: str, key: str) -> float:
        value = self.get(section, key)
        assert isinstance(value, (int, float)), (section, key)
        return float(value)

    def getboolean(self, section: str, key: str) -> bool:
        value = self.get(section, key)
        assert isinstance(value, bool), (section, key)
        return value

    def raw(self, section: str, key: str) -> str:
        return self._values[(section, key)].raw

    def source(self, section: str, key: str) -> str:
        return self._values[(section, key)].source

    def items(self, *, display_sensitive: bool = False) -> Iterator[tuple[Option, str, str]]:
        """(option, value as text, source) for every option; secrets masked unless asked."""
        for option in OPTIONS:
            value = self._values[(option.section, option.key)]
            shown = value.raw
            if option.sensitive and not display_sensitive:
                shown = "< hidden >"
            yield option, shown, value.source

    # -- derived ------------------------------------------------------------------------------

    @property
    def auth_backend_names(self) -> list[str]:
        """`[api] auth_backends`, or the legacy `[api] auth_backend` when only it was set."""
        value = self.getstr("api", "auth_backends")
        legacy = self.getstr("api", "auth_backend")
        if legacy and self.source("api", "auth_backends") == "default":
            value = legacy
        return [name.strip() for name in value.split(",") if name.strip()]

    @property
    def base_url(self) -> str:
        """`[webserver] base_url` when set; otherwise the URL of this machine's web server port
        (https when the proxy terminates TLS), so a port changed by configuration or by
        `standalone --port` is what key files and the environment's `airflowUri` carry."""
        if self.source("webserver", "base_url") != "default":
            return self.getstr("webserver", "base_url").rstrip("/")
        scheme = "https" if self.getstr("proxy", "tls_cert_file") else "http"
        return f"{scheme}://localhost:{self.getint('webserver', 'web_server_port')}"

    @property
    def dags_folder(self) -> Path:
        return Path(self.getstr("core", "dags_folder")).expanduser()

    @property
    def plugins_folder(self) -> Path:
        return Path(self.getstr("core", "plugins_folder")).expanduser()

    @property
    def base_log_folder(self) -> Path:
        return Path(self.getstr("logging", "base_log_folder")).expanduser()

    @property
    def sql_alchemy_conn(self) -> str:
        return self.getstr("database", "sql_alchemy_conn")
