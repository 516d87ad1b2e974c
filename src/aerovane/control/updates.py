"""`environments.patch`: turning an update mask and a partial Environment into a validated
change, and storing it (Google's semantics, notes §2.4).

- One update type per request: Airflow config overrides, environment variables, or the web
  server's IP allow-list; several keys of the overrides map may go together.
- `config.softwareConfig.airflowConfigOverrides.<section-key>`: that key is set from the body,
  or removed when the body does not carry it. The whole map's path replaces the whole map.
- `config.softwareConfig.envVariables` replaces every variable.
- `config.webServerNetworkAccessControl`: absent from the body allows everyone; present without
  `allowedIpRanges` allows no one.

Everything is checked before anything is stored, and the resulting settings are built once
(`Settings(overrides=...)`), so a change that would not load is refused with a 400 and changes
nothing. Options that a running process cannot pick up are refused too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aerovane.config import OPTION_INDEX, ConfigError, Settings
from aerovane.control.errors import GoogleError, invalid_argument
from aerovane.control.live import settings_overrides, split_override_key
from aerovane.db import models
from aerovane.db.types import utcnow

OVERRIDES = "config.softwareConfig.airflowConfigOverrides"
ENV_VARIABLES = "config.softwareConfig.envVariables"
NETWORK_ACCESS = "config.webServerNetworkAccessControl"
SUPPORTED_MASKS = (f"{OVERRIDES}[.section-key]", ENV_VARIABLES, NETWORK_ACCESS)

#: Options a running process cannot change (where it listens, what it stores and encrypts with).
BLOCKED_OPTIONS = frozenset(
    {
        ("core", "fernet_key"),
        ("core", "executor"),
        ("webserver", "secret_key"),
        ("webserver", "web_server_host"),
        ("webserver", "web_server_port"),
        ("proxy", "api_host"),
        ("proxy", "api_port"),
    }
)
BLOCKED_SECTIONS = frozenset({"database"})

_ENV_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_AIRFLOW_CONFIG_VARIABLE = re.compile(r"AIRFLOW__[A-Z0-9_]+__[A-Z0-9_]+")
#: Composer's reserved names, and Aerovane's own (which decide where its home and config are).
RESERVED_ENV_NAMES = frozenset(
    {
        "AIRFLOW_HOME",
        "C_FORCE_ROOT",
        "CONTAINER_NAME",
        "DAGS_FOLDER",
        "GCP_PROJECT",
        "GCS_BUCKET",
        "GKE_CLUSTER_NAME",
        "SQL_DATABASE",
        "SQL_INSTANCE",
        "SQL_PASSWORD",
        "SQL_PROJECT",
        "SQL_REGION",
        "SQL_USER",
        "AEROVANE_HOME",
        "AEROVANE_CONFIG",
    }
)
MAX_DESCRIPTION = 300


@dataclass(frozen=True)
class Change:
    """One validated update: which field and its new value."""

    field: str  # OVERRIDES, ENV_VARIABLES or NETWORK_ACCESS
    value: Any


def _camel(segment: str) -> str:
    head, *rest = segment.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _get(obj: Mapping[str, Any] | None, name: str) -> Any:
    """`obj[name]`, also under its snake_case spelling (proto JSON accepts both)."""
    if not isinstance(obj, Mapping):
        return None
    if name in obj:
        return obj[name]
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
    return obj.get(snake)


def _has(obj: Mapping[str, Any] | None, name: str) -> bool:
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
    return isinstance(obj, Mapping) and (name in obj or snake in obj)


def parse_mask(update_mask: str | None) -> tuple[str, list[str]]:
    """(field, override keys named by the mask, or [] for the whole field)."""
    paths = [p.strip() for p in (update_mask or "").split(",") if p.strip()]
    if not paths:
        raise invalid_argument("updateMask is required; supported: " + ", ".join(SUPPORTED_MASKS))
    fields: set[str] = set()
    keys: list[str] = []
    whole = False
    for path in paths:
        segments = path.split(".")
        prefix = ".".join(_camel(s) for s in segments[:3])
        if prefix == OVERRIDES and len(segments) in (3, 4):
            fields.add(OVERRIDES)
            if len(segments) == 4:
                keys.append(segments[3])
            else:
                whole = True
        elif ".".join(_camel(s) for s in segments) in (ENV_VARIABLES, NETWORK_ACCESS):
            fields.add(".".join(_camel(s) for s in segments))
        else:
            raise invalid_argument(
                f"Unsupported update mask path {path!r}; supported: " + ", ".join(SUPPORTED_MASKS)
            )
    if len(fields) > 1:
        raise invalid_argument(
            "Only one update type can be applied per request; the mask names "
            + ", ".join(sorted(fields))
        )
    if whole and keys:
        raise invalid_argument(
            f"The mask names both {OVERRIDES} and individual keys of it; name one or the other"
        )
    return fields.pop(), keys


def plan_update(environment: models.Environment, update_mask: str | None, body: Any) -> Change:
    """The validated change `update_mask` and `body` ask for; GoogleError(400) otherwise."""
    field, keys = parse_mask(update_mask)
    body = {} if body is None else body
    if not isinstance(body, Mapping):
        raise invalid_argument("The request body must be an Environment object")
    config = _get(body, "config")
    software = _get(config, "softwareConfig")
    overrides = dict(environment.config_overrides or {})
    ranges = environment.allowed_ip_ranges
    value: Any
    if field == OVERRIDES:
        given = _string_map(_get(software, "airflowConfigOverrides"), "airflowConfigOverrides")
        if keys:
            for key in keys:
                if key in given:
                    _check_override_key(key)
                    overrides[key] = given[key]
                else:
                    overrides.pop(key, None)
        else:
            for key in given:
                _check_override_key(key)
            overrides = given
        value = overrides
    elif field == ENV_VARIABLES:
        value = _string_map(_get(software, "envVariables"), "envVariables")
        for name in value:
            _check_env_name(name)
    else:
        ranges = _ip_ranges(config)
        value = ranges
    _check_loads(overrides, ranges)
    return Change(field, value)


def apply_change(environment: models.Environment, change: Change) -> None:
    """Store `change` on the row and bump `config_version` so every process picks it up."""
    if change.field == OVERRIDES:
        environment.config_overrides = dict(change.value)
    elif change.field == ENV_VARIABLES:
        environment.env_variables = dict(change.value)
    else:
        environment.allowed_ip_ranges = None if change.value is None else list(change.value)
    environment.config_version = (environment.config_version or 0) + 1
    environment.update_time = utcnow()


# -- checks --------------------------------------------------------------------------------------


def _string_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid_argument(f"{field} must be an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid_argument(f"{field}.{key} must be a string")
        if "\x00" in item:
            raise invalid_argument(f"{field}.{key} must not contain NUL characters")
    return dict(value)


def _check_override_key(name: str) -> None:
    section, sep, key = name.partition("-")
    if not sep or not section or not key:
        raise invalid_argument(
            f'Invalid Airflow config override "{name}": expected "section-key", '
            'e.g. "core-dags_are_paused_at_creation"'
        )
    if any(c in section for c in "[]") or any(c in key for c in "=;") or "." in name:
        raise invalid_argument(
            f'Invalid Airflow config override "{name}": the section must not contain "[" or '
            '"]", the key must not contain "=" or ";", and neither may contain "."'
        )
    option = split_override_key(name)
    if option[0] in BLOCKED_SECTIONS or option in BLOCKED_OPTIONS:
        raise invalid_argument(f'Property "{name}" cannot be overridden')
    if option == ("proxy", "allowed_ip_ranges"):
        raise invalid_argument(
            f'Property "{name}" cannot be overridden; set {NETWORK_ACCESS} instead'
        )
    if option not in OPTION_INDEX:
        raise invalid_argument(
            f'Invalid Airflow config override "{name}": [{option[0]}] {option[1]} is not a '
            "known option"
        )


def _check_env_name(name: str) -> None:
    if not _ENV_NAME.fullmatch(name):
        raise invalid_argument(
            f'Invalid environment variable name "{name}": must match [a-zA-Z_][a-zA-Z0-9_]*'
        )
    if _AIRFLOW_CONFIG_VARIABLE.fullmatch(name) or name.startswith(("AIRFLOW__", "AEROVANE__")):
        raise invalid_argument(
            f'Environment variable "{name}" cannot be set: Airflow configuration belongs in '
            f"{OVERRIDES}"
        )
    if name in RESERVED_ENV_NAMES:
        raise invalid_argument(f'Environment variable "{name}" is reserved and cannot be set')


def _ip_ranges(config: Any) -> list[dict[str, str]] | None:
    if not _has(config, "webServerNetworkAccessControl"):
        return None  # unrestricted
    access = _get(config, "webServerNetworkAccessControl")
    items = _get(access, "allowedIpRanges") if access is not None else None
    if access is not None and not isinstance(access, Mapping):
        raise invalid_argument("webServerNetworkAccessControl must be an object")
    if items is None:
        return []
    if not isinstance(items, list):
        raise invalid_argument("allowedIpRanges must be a list")
    ranges: list[dict[str, str]] = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("value"), str):
            raise invalid_argument("Each allowedIpRanges item needs a string value")
        value = item["value"].strip()
        description = item.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise invalid_argument(
                f"The description of IP range {value!r} must be a string of at most "
                f"{MAX_DESCRIPTION} characters"
            )
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise invalid_argument(
                f"Invalid IP range {value!r}: {exc}. Ranges must be IPv4 or IPv6 addresses or "
                "CIDR blocks with the host bits clear, e.g. 1.2.3.0/24"
            ) from None
        ranges.append({"value": value, "description": description})
    return ranges


def _check_loads(overrides: dict[str, str], ranges: list[dict[str, str]] | None) -> None:
    try:
        Settings(overrides=settings_overrides(overrides, ranges))
    except ConfigError as exc:
        raise GoogleError(400, f"Invalid configuration: {exc}") from None
