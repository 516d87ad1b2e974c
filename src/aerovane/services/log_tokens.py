"""Short-lived tokens with which the API asks a worker's log server for one task log file.

As Airflow's `serve_logs`: a JWT signed with `[webserver] secret_key` (HS512, keyed by an HMAC
of the secret), audience
`task-instance-logs`, whose `filename` claim names the one file (relative to the worker's
`[logging] base_log_folder`) it may read, valid for 30 seconds (plus 30 seconds of clock skew).
An empty secret signs nothing and accepts nothing: the API and the workers must share one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import jwt

from aerovane.config import get_settings

AUDIENCE = "task-instance-logs"
ALGORITHM = "HS512"
LIFETIME = dt.timedelta(seconds=30)
CLOCK_GRACE = dt.timedelta(seconds=30)


class NoSecret(RuntimeError):
    """`[webserver] secret_key` is empty: remote logs cannot be requested or served."""


def _secret() -> bytes:
    """A 64-byte HS512 key derived from the secret (and this use), whatever the secret's length."""
    secret = get_settings().getstr("webserver", "secret_key")
    if not secret:
        raise NoSecret("[webserver] secret_key is empty; set the same one on the API and workers")
    return hmac.new(secret.encode(), AUDIENCE.encode(), hashlib.sha512).digest()


def sign(filename: str) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"filename": filename, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + LIFETIME}
    return jwt.encode(claims, _secret(), algorithm=ALGORITHM)


def allows(token: str, filename: str) -> bool:
    """True when `token` is ours, current, for this audience, and names exactly `filename`."""
    try:
        claims = jwt.decode(
            token,
            _secret(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            leeway=CLOCK_GRACE,
            options={"require": ["exp", "iat", "nbf", "aud", "filename"]},
        )
    except (jwt.InvalidTokenError, NoSecret):
        return False
    return claims.get("filename") == filename
