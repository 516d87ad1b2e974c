"""Aerovane's token service: service accounts and their keys, Aerovane's signing keys, the
OAuth 2.0 token endpoint, OIDC discovery and certificates, the IAP signed-header assertions and
the metadata server for workloads.

The public API below is what `aerovane.proxy` and `aerovane.auth.backends.iap` use (see
docs/contracts/identity.md). Names load on first access, so a task process that only needs
`aerovane.identity.project` does not import JWT, crypto or HTTP code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter

    from aerovane.identity.principals import Principal, TokenError
    from aerovane.identity.project import (
        CLOUD_PLATFORM,
        iap_audience,
        oauth_client_id,
        project_number,
    )
    from aerovane.identity.tokens import sign_iap_assertion
    from aerovane.identity.verify import (
        verify_access_token,
        verify_iap_assertion,
        verify_id_token,
    )

    router: APIRouter

_EXPORTS = {
    "CLOUD_PLATFORM": "project",
    "Principal": "principals",
    "TokenError": "principals",
    "iap_audience": "project",
    "oauth_client_id": "project",
    "project_number": "project",
    "router": "routes",
    "sign_iap_assertion": "tokens",
    "verify_access_token": "verify",
    "verify_iap_assertion": "verify",
    "verify_id_token": "verify",
}

__all__ = [
    "CLOUD_PLATFORM",
    "Principal",
    "TokenError",
    "iap_audience",
    "oauth_client_id",
    "project_number",
    "router",
    "sign_iap_assertion",
    "verify_access_token",
    "verify_iap_assertion",
    "verify_id_token",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
