"""Variable responses and request bodies. Values of sensitive keys are shown as `"***"`."""

from __future__ import annotations

from typing import Any

from aerovane.api.v1.datamodels.common import StrictModel


class VariableResponse(StrictModel):
    key: str
    value: str | None
    description: str | None


class VariableCollectionResponse(StrictModel):
    """Airflow's server lists values too (its spec's list item has only key and description)."""

    variables: list[VariableResponse]
    total_entries: int


class VariableBody(StrictModel):
    """POST and PATCH: Airflow requires the key and the value in both."""

    key: str
    value: str
    description: str | None = None


def variable_to_dict(row: Any, value: str | None) -> dict[str, Any]:
    """A `variable` row as a Variable, with `value` already made safe to show."""
    return {"key": row.key, "value": value, "description": row.description}
