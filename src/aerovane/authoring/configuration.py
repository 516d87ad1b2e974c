"""`airflow.configuration.conf` for DAG files: a read-only view of Aerovane's settings.

Answers with Airflow's parser methods (`get`, `getboolean`, `getint`, `getfloat`, `getjson`,
`getlist`, `has_option`, `getsection`) over the effective settings of the process (defaults <
file < environment < live overrides), re-read at each call so a live change is seen. Values are
the strings Airflow would return. An unknown option raises `AerovaneConfigException` unless a
`fallback` is given. Sensitive options (keys, passwords, the database URL) are not readable
from DAG code: asking for one raises, so no secret reaches a task's log by way of `conf`.
"""

from __future__ import annotations

import json
from typing import Any

from aerovane.authoring.exceptions import AerovaneConfigException

__all__ = ["AirflowConfigView", "conf"]

_NOTSET: Any = object()
_TRUE = {"t", "true", "1", "yes", "on"}
_FALSE = {"f", "false", "0", "no", "off"}


def _option(section: str, key: str) -> Any:
    from aerovane.config.schema import OPTION_INDEX

    return OPTION_INDEX.get((str(section).lower(), str(key).lower()))


class AirflowConfigView:
    """Read-only; there is no `set`: Aerovane's settings change through its config file,
    environment or control plane, never from a DAG file."""

    def _raw(self, section: str, key: str, fallback: Any) -> Any:
        from aerovane.config import get_settings

        option = _option(section, key)
        if option is None:
            if fallback is not _NOTSET:
                return fallback
            raise AerovaneConfigException(f"section/key [{section}/{key}] not found in config")
        if option.sensitive:
            raise AerovaneConfigException(
                f"[{option.section}] {option.key} is sensitive and not readable from DAG code"
            )
        return get_settings().raw(option.section, option.key)

    def get(self, section: str, key: str, fallback: Any = _NOTSET, **_: Any) -> Any:
        return self._raw(section, key, fallback)

    def has_option(self, section: str, option: str) -> bool:
        found = _option(section, option)
        return found is not None and not found.sensitive

    def getboolean(self, section: str, key: str, fallback: Any = _NOTSET, **_: Any) -> Any:
        value = self._raw(section, key, fallback)
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise AerovaneConfigException(
            f'Failed to convert value to bool. Please check "{key}" key in "{section}" section. '
            f'Current value: "{value}".'
        )

    def _number(self, kind: type, section: str, key: str, fallback: Any) -> Any:
        value = self._raw(section, key, fallback)
        if not isinstance(value, str):
            return value
        try:
            return kind(value)
        except ValueError:
            raise AerovaneConfigException(
                f'Failed to convert value to {kind.__name__}. Please check "{key}" key in '
                f'"{section}" section. Current value: "{value}".'
            ) from None

    def getint(self, section: str, key: str, fallback: Any = _NOTSET, **_: Any) -> Any:
        return self._number(int, section, key, fallback)

    def getfloat(self, section: str, key: str, fallback: Any = _NOTSET, **_: Any) -> Any:
        return self._number(float, section, key, fallback)

    def getjson(self, section: str, key: str, fallback: Any = None, **_: Any) -> Any:
        value = self._raw(section, key, None)
        if value is None or value == "":
            return fallback
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise AerovaneConfigException(f"Unable to parse [{section}] {key!r} as JSON") from exc

    def getlist(
        self, section: str, key: str, delimiter: str = ",", fallback: Any = _NOTSET, **_: Any
    ) -> Any:
        value = self._raw(section, key, fallback)
        if not isinstance(value, str):
            return value
        return [item.strip() for item in value.split(delimiter) if item.strip()]

    def getsection(self, section: str) -> dict[str, Any] | None:
        """The section's readable options as {key: value} (typed as Airflow does), or None."""
        from aerovane.config import get_settings
        from aerovane.config.schema import OPTIONS

        settings = get_settings()
        name = str(section).lower()
        options = [o for o in OPTIONS if o.section == name]
        if not options:
            return None
        result: dict[str, Any] = {}
        for option in options:
            if not option.sensitive:
                parsed = settings.get(option.section, option.key)
                plain = isinstance(parsed, (bool, int, float))
                result[option.key] = parsed if plain else settings.raw(option.section, option.key)
        return result

    def __repr__(self) -> str:
        return "<aerovane read-only configuration>"


conf = AirflowConfigView()
