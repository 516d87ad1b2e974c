"""Provider collection (always empty: Aerovane ships no provider packages)."""

from __future__ import annotations

from aerovane.api.v1.datamodels.common import StrictModel


class ProviderResponse(StrictModel):
    package_name: str
    description: str
    version: str


class ProviderCollectionResponse(StrictModel):
    providers: list[ProviderResponse]
    total_entries: int
