"""A client library for Composer-shaped environments, Aerovane's or Google's.

Tokens come from google-auth, so the same code runs against Aerovane (a key file whose
`token_uri` is Aerovane's token endpoint, or its metadata server) and against Cloud Composer:

- `get_client_id(project, location, environment)`: the web server's OAuth client id.
- `make_iap_request(url, client_id, method, **kwargs)`: a request with an ID token.
- `make_web_server_request(url, method, **kwargs)`: a request with an access token.
- `trigger_dag(web_server_url, dag_id, data, client_id=None, use_experimental_api=False)`.
- `ControlPlaneClient`: the environments API (describe, update, run commands).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aerovane.client.control import ControlPlaneClient, ControlPlaneError
    from aerovane.client.iap import (
        BadResponseError,
        IapPermissionError,
        get_client_id,
        make_iap_request,
    )
    from aerovane.client.web_server import make_web_server_request, trigger_dag

#: Names load on first use, so the CLI's control-plane client needs neither requests nor
#: google-auth unless it uses them.
_EXPORTS = {
    "BadResponseError": "iap",
    "ControlPlaneClient": "control",
    "ControlPlaneError": "control",
    "IapPermissionError": "iap",
    "get_client_id": "iap",
    "make_iap_request": "iap",
    "make_web_server_request": "web_server",
    "trigger_dag": "web_server",
}

__all__ = [
    "BadResponseError",
    "ControlPlaneClient",
    "ControlPlaneError",
    "IapPermissionError",
    "get_client_id",
    "make_iap_request",
    "make_web_server_request",
    "trigger_dag",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
