"""The Config response, as JSON or as airflow.cfg-style text."""

from __future__ import annotations

import json
from typing import Any

from aerovane.api.v1.datamodels.common import StrictModel
from aerovane.services.config_view import Section


class ConfigOptionResponse(StrictModel):
    key: str
    value: str


class ConfigSectionResponse(StrictModel):
    name: str
    options: list[ConfigOptionResponse]


class ConfigResponse(StrictModel):
    sections: list[ConfigSectionResponse]


def config_to_dict(sections: list[Section]) -> dict[str, Any]:
    return {
        "sections": [
            {"name": name, "options": [{"key": key, "value": value} for key, value in options]}
            for name, options in sections
        ]
    }


def config_to_json(sections: list[Section]) -> str:
    """Indented by four, as Airflow serves it."""
    return json.dumps(config_to_dict(sections), indent=4)


def config_to_text(sections: list[Section]) -> str:
    """`[section]` then `key = value` lines, one block per section, blocks joined by a newline."""
    return "\n".join(
        f"[{name}]\n" + "".join(f"{key} = {value}\n" for key, value in options)
        for name, options in sections
    )
