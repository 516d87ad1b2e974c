"""gcloud's `--format` for resources: `json`, `yaml` or `value(field.path, ...)`.

- `json`: indented, keys sorted (as gcloud prints them).
- `yaml`: block style, keys sorted; a list of resources is one document per resource.
- `value(a.b, c)`: one line per resource, the named fields separated by tabs; a missing field
  is empty, a list is joined with `;`, a map printed as `key=value` pairs joined with `;`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

_VALUE = re.compile(r"^value\((?P<fields>[^)]*)\)$")
FORMATS_HELP = 'json, yaml or value(FIELD,...), e.g. --format="value(config.airflowUri)"'


def render(data: Any, fmt: str | None, *, default: str = "yaml") -> str:
    """`data` (a resource or a list of them) as `fmt` says; UsageError for unknown formats."""
    fmt = (fmt or default).strip()
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True)
    if fmt == "yaml":
        items = data if isinstance(data, list) else [data]
        return "---\n".join(_yaml(item) for item in items).rstrip("\n")
    match = _VALUE.match(fmt)
    if match:
        fields = [f.strip() for f in match.group("fields").split(",") if f.strip()]
        if not fields:
            raise click.UsageError("--format=value(...) needs at least one field")
        rows = data if isinstance(data, list) else [data]
        return "\n".join("\t".join(_text(lookup(row, f)) for f in fields) for row in rows)
    raise click.UsageError(f"unsupported --format {fmt!r}: use {FORMATS_HELP}")


def lookup(data: Any, path: str) -> Any:
    """`data["a"]["b"]` for `"a.b"`; None where the path does not exist."""
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return ";".join(_text(item) for item in value)
    if isinstance(value, dict):
        return ";".join(f"{key}={_text(item)}" for key, item in sorted(value.items()))
    return str(value)


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False, allow_unicode=True)
