"""Plugin collection: what each loaded Airflow plugin contributes, by name."""

from __future__ import annotations

from typing import Any

from aerovane.api.v1.datamodels.common import StrictModel


class PluginResponse(StrictModel):
    name: str
    hooks: list[str | None]
    executors: list[str | None]
    macros: list[str | None]
    flask_blueprints: list[str | None]
    appbuilder_views: list[dict[str, Any] | None]
    appbuilder_menu_items: list[dict[str, Any] | None]
    global_operator_extra_links: list[str | None]
    operator_extra_links: list[str | None]
    source: str | None
    ti_deps: list[str]
    listeners: list[str]
    timetables: list[str]


class PluginCollectionResponse(StrictModel):
    plugins: list[PluginResponse]
    total_entries: int
