"""The configuration as the API shows it: sections and options under Airflow's names.

`[webserver] expose_config` decides whether anything may be shown: `False` nothing,
`non-sensitive-only` or `True` every option. Sensitive options (`fernet_key`, `secret_key`, the
database URL, client secrets) are `< hidden >` whatever the setting, unlike Airflow's `True`:
`secret_key` signs session cookies, so showing it to an Op would let them forge an Admin's
session. Values come from `Settings.items`, so they are the effective ones (defaults, file and
environment layered).
"""

from __future__ import annotations

import enum

from aerovane.config import Settings
from aerovane.services.errors import NotFound

HIDDEN = "< hidden >"

Section = tuple[str, list[tuple[str, str]]]


class Exposure(enum.Enum):
    NOTHING = "False"
    NON_SENSITIVE = "non-sensitive-only"
    EVERYTHING = "True"


def exposure(settings: Settings) -> Exposure:
    value = settings.getstr("webserver", "expose_config")
    if value.lower() == Exposure.NON_SENSITIVE.value:
        return Exposure.NON_SENSITIVE
    return Exposure.EVERYTHING if value == Exposure.EVERYTHING.value else Exposure.NOTHING


def sections(settings: Settings, *, only: str | None = None) -> list[Section]:
    """Every section with its options in schema order, secrets hidden; `only` one section
    (else NotFound)."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for option, shown, _source in settings.items(display_sensitive=False):
        grouped.setdefault(option.section, []).append((option.key, shown))
    if only:
        if only not in grouped:
            raise NotFound(f"section={only} not found.")
        return [(only, grouped[only])]
    return list(grouped.items())


def option_value(settings: Settings, section: str, option: str) -> str:
    """One option's value (names matched case-insensitively); sensitive ones are hidden."""
    wanted = (section.lower(), option.lower())
    for known, shown, _source in settings.items(display_sensitive=False):
        if (known.section, known.key) == wanted:
            return HIDDEN if known.sensitive else shown
    raise NotFound(f"The option [{section}/{option}] is not found in config.")
