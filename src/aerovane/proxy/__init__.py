"""The identity-aware proxy: Aerovane's stand-in for Google's IAP in front of the web server.

It admits callers by network address (`allowlist`), removes identity headers clients may not
set (`headers`), authenticates people and service accounts and applies the access policy
(`auth`, `policy`, `login`, `oidc`), and forwards to the API server with IAP's signed identity
headers (`forward`). `create_proxy_app` (in `app`) assembles it.
"""

from __future__ import annotations

from aerovane.proxy.app import create_proxy_app

__all__ = ["create_proxy_app"]
