"""The secrets masker: which values are secret, and text and structures with them replaced.

Airflow 2.10's semantics (`airflow.utils.log.secrets_masker`). A process-wide set of secrets
grows as a task reads them: connection passwords (also URL-quoted) and sensitive extra fields,
variables whose names look sensitive, and values users pass to `mask_secret()`, each also in
the forms it takes when quoted in a URL or escaped by repr() or JSON. `redact()`
replaces every known secret in a string with `***`, and in dicts also every value whose key
looks sensitive (`password`, `secret`, `api_key`, `token`, ... plus `[core]
sensitive_var_conn_names`; off with `[core] hide_sensitive_var_conn_fields = False`). Secrets
shorter than `[logging] min_length_masked_secret` are not masked: they would mask ordinary
words all over a log.

This module only knows secrets and text; the task runtime applies it to the task's log and
rendered fields. It reads settings, never the database.
"""

from __future__ import annotations

import collections.abc
import json
import logging
import re
import threading
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from aerovane.config import Settings

__all__ = [
    "DEFAULT_SENSITIVE_FIELDS",
    "REPLACEMENT",
    "SecretsMasker",
    "get_masker",
    "mask_secret",
    "redact",
    "should_hide_value_for_key",
]

REPLACEMENT = "***"

#: Names (variable keys, connection extra keys, dict keys) whose values are secret: a name is
#: sensitive when it contains one of these, case-insensitively.
DEFAULT_SENSITIVE_FIELDS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "authorization",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "secret",
        "token",
        "keyfile_dict",
        "service_account",
    }
)

MAX_RECURSION_DEPTH = 5

_names_cache: tuple[Settings, frozenset[str] | None] | None = None


def _sensitive_names() -> frozenset[str] | None:
    """The sensitive name fragments under the current settings; None when hiding is off."""
    global _names_cache
    from aerovane.config import get_settings

    settings = get_settings()
    cached = _names_cache
    if cached is not None and cached[0] is settings:
        return cached[1]
    names: frozenset[str] | None = None
    if settings.getboolean("core", "hide_sensitive_var_conn_fields"):
        extra = settings.getstr("core", "sensitive_var_conn_names").split(",")
        names = DEFAULT_SENSITIVE_FIELDS | {n.strip().lower() for n in extra if n.strip()}
    _names_cache = (settings, names)
    return names


def should_hide_value_for_key(name: Any) -> bool:
    """Whether the value under `name` (a variable key, an extra field, a dict key) is secret."""
    if not isinstance(name, str):
        return False
    names = _sensitive_names()
    if not names:
        return False
    lowered = name.strip().lower()
    return any(fragment in lowered for fragment in names)


class SecretsMasker(logging.Filter):
    """The secrets known to this process, and `redact()` over strings and structures.

    As a logging filter it redacts a record's arguments before they are formatted, so a dict
    logged with a `password` key shows `***` even though its value was never registered.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    @property
    def active(self) -> bool:
        """True once a secret is known (structures are redacted by key name regardless)."""
        return self._pattern is not None

    def add_mask(self, secret: Any, name: str | None = None) -> None:
        """Remember `secret` (a string, or the strings in a dict or iterable).

        With `name`, only when the name is sensitive; in a dict, each value goes under its key.
        Everything under a sensitive name is secret (Airflow forgets the name of a dict and
        masks a JSON variable `service_secret` only by its keys).
        """
        structured = isinstance(secret, (dict, list, tuple, set, frozenset))
        if structured and name is not None and should_hide_value_for_key(name):
            name, secret = None, _strings_in(secret)
        if isinstance(secret, dict):
            for key, value in secret.items():
                self.add_mask(value, key)
        elif isinstance(secret, str):
            if name is not None and not should_hide_value_for_key(name):
                return
            self._add(_variants(secret))
        elif isinstance(secret, collections.abc.Iterable):
            for value in secret:
                self.add_mask(value, name)

    def _add(self, candidates: set[str]) -> None:
        from aerovane.config import get_settings

        minimum = get_settings().getint("logging", "min_length_masked_secret")
        new = {s for s in candidates if len(s) >= max(minimum, 1)} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            # Longest first, so a secret containing another one is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, ordered)))

    def redact_text(self, text: str) -> str:
        """`text` with every known secret replaced by `***`."""
        pattern = self._pattern
        return pattern.sub(REPLACEMENT, text) if pattern is not None else text

    def redact(self, item: Any, name: str | None = None, max_depth: int | None = None) -> Any:
        """`item` with known secrets masked in its strings and, in dicts, every value under a
        sensitive key (or all of `item` when `name` is sensitive) replaced by `***`. Sets come
        back as tuples, as in Airflow; other objects unchanged."""
        return self._redact(item, name, 0, max_depth or MAX_RECURSION_DEPTH)

    def _redact(self, item: Any, name: Any, depth: int, max_depth: int) -> Any:
        if depth > max_depth:
            return item
        if name is not None and should_hide_value_for_key(name):
            return _redact_all(item, depth, max_depth)
        if isinstance(item, str):
            return self.redact_text(item)
        if isinstance(item, dict):
            return {k: self._redact(v, k, depth + 1, max_depth) for k, v in item.items()}
        if isinstance(item, Enum):
            return self._redact(item.value, name, depth, max_depth)
        if isinstance(item, (tuple, set, frozenset)):
            return tuple(self._redact(v, None, depth + 1, max_depth) for v in item)
        if isinstance(item, list):
            return [self._redact(v, None, depth + 1, max_depth) for v in item]
        return item

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = self.redact(record.args)
        elif record.args:
            record.args = tuple(self.redact(arg) for arg in record.args)
        if isinstance(record.msg, (dict, list, tuple)):
            record.msg = self.redact(record.msg)
        return True


def _variants(secret: str) -> set[str]:
    """The forms a secret takes in logs: as is, URL-quoted (in a connection URI), as repr and
    JSON show it inside a string (escaped quotes, backslashes, newlines), and each of its lines
    (logs are masked line by line)."""
    return {
        secret,
        quote(secret, safe=""),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        *secret.splitlines(),
    }


def _redact_all(item: Any, depth: int, max_depth: int) -> Any:
    """Every string in `item` replaced by `***` (under a sensitive name)."""
    if depth > max_depth or isinstance(item, str):
        return REPLACEMENT
    if isinstance(item, dict):
        return {k: _redact_all(v, depth + 1, max_depth) for k, v in item.items()}
    if isinstance(item, (tuple, set, frozenset)):
        return tuple(_redact_all(v, depth + 1, max_depth) for v in item)
    if isinstance(item, list):
        return [_redact_all(v, depth + 1, max_depth) for v in item]
    return item


def _strings_in(item: Any, depth: int = 0) -> list[str]:
    if isinstance(item, str):
        return [item]
    if depth > MAX_RECURSION_DEPTH:
        return []
    if isinstance(item, dict):
        item = item.values()
    if isinstance(item, (list, tuple, set, frozenset, type({}.values()))):
        return [s for value in item for s in _strings_in(value, depth + 1)]
    return []


_MASKER = SecretsMasker()


def get_masker() -> SecretsMasker:
    """This process's masker (task processes are forked, so each attempt starts from the
    zygote's, which knows no secrets)."""
    return _MASKER


def mask_secret(secret: str | dict[str, Any] | Iterable[Any], name: str | None = None) -> None:
    """Keep `secret` out of the task's log and rendered fields (Airflow's `mask_secret`).

    With `name`, the value is masked only if the name looks sensitive. A dict or iterable is
    walked: dict values are masked when their key looks sensitive.
    """
    if not secret:
        return
    _MASKER.add_mask(secret, name)


def redact(item: Any, name: str | None = None, max_depth: int | None = None) -> Any:
    """`item` with known secrets and values under sensitive names replaced by `***`."""
    return _MASKER.redact(item, name, max_depth)
