"""Hiding secrets in what the API shows: Airflow's sensitive-name rule and its redaction.

A key is sensitive by the task runtime's rule (`aerovane.authoring.secrets_masker`): its
lower-cased name contains one of Airflow's default sensitive field names (`password`, `secret`,
`token`, `api_key`, ...) or a name from `[core] sensitive_var_conn_names`, and `[core]
hide_sensitive_var_conn_fields` is on. Redaction replaces every value under a sensitive key with
`"***"`, recursing into dicts and lists, as Airflow's secrets masker does; unlike Airflow it also
masks numbers and booleans under such keys (a numeric PIN is a secret too). Nothing here
decrypts or touches the database.
"""

from __future__ import annotations

from typing import Any

from aerovane.authoring.secrets_masker import DEFAULT_SENSITIVE_FIELDS, should_hide_value_for_key

MASK = "***"

#: Airflow 2's `DEFAULT_SENSITIVE_FIELDS`.
SENSITIVE_FIELDS = DEFAULT_SENSITIVE_FIELDS
#: Deeper than this, containers are masked whole rather than inspected.
_MAX_DEPTH = 20


def is_sensitive_key(name: object) -> bool:
    """Whether values stored under `name` must be hidden."""
    return should_hide_value_for_key(name)


def _mask_all(value: Any, depth: int) -> Any:
    if value is None:
        return None
    if isinstance(value, dict) and depth <= _MAX_DEPTH:
        return {k: _mask_all(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and depth <= _MAX_DEPTH:
        return [_mask_all(v, depth + 1) for v in value]
    return MASK


def redact(value: Any, name: str | None = None, *, _depth: int = 0) -> Any:
    """`value` with everything under a sensitive key replaced by `"***"`."""
    if (name is not None and is_sensitive_key(name)) or _depth > _MAX_DEPTH:
        return _mask_all(value, _depth)
    if isinstance(value, dict):
        return {k: redact(v, str(k), _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, _depth=_depth + 1) for v in value]
    return value
