"""Signed, URL-safe tokens: DAG `file_token`s and log continuation tokens.

A token is `<base64url JSON>.<base64url HMAC-SHA256>`, keyed by `[webserver] secret_key` and a
per-purpose salt, so a log token never passes as a file token. Without a configured secret the
process uses a random one (tokens then do not survive a restart or cross workers).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import secrets
from typing import Any

from aerovane.config import get_settings

log = logging.getLogger(__name__)

FILE_TOKEN_SALT = "aerovane.file_token"
LOG_TOKEN_SALT = "aerovane.log_token"

_FALLBACK_SECRET = secrets.token_urlsafe(32)


class BadSignature(ValueError):
    """The token was not made by this server (or was altered)."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=32)
def _derived_key(secret: str, salt: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), salt.encode("utf-8"), hashlib.sha256).digest()


def _secret() -> str:
    secret = get_settings().getstr("webserver", "secret_key")
    if secret:
        return secret
    _warn_no_secret()
    return _FALLBACK_SECRET


@functools.lru_cache(maxsize=1)
def _warn_no_secret() -> None:
    log.warning("[webserver] secret_key is empty; signing tokens with a per-process key")


def _sign(key: bytes, payload: str) -> str:
    return _b64encode(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def dumps(value: Any, *, salt: str) -> str:
    key = _derived_key(_secret(), salt)
    payload = _b64encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_sign(key, payload)}"


def loads(token: str, *, salt: str) -> Any:
    payload, sep, signature = token.rpartition(".")
    if not sep or not payload:
        raise BadSignature("malformed token")
    key = _derived_key(_secret(), salt)
    try:
        expected = _sign(key, payload)
    except UnicodeEncodeError:
        raise BadSignature("malformed token") from None
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise BadSignature("signature does not match")
    try:
        return json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        raise BadSignature("malformed token") from None


@functools.lru_cache(maxsize=4096)
def _file_token(secret: str, fileloc: str) -> str:
    key = _derived_key(secret, FILE_TOKEN_SALT)
    payload = _b64encode(json.dumps(fileloc).encode())
    return f"{payload}.{_sign(key, payload)}"


def file_token(fileloc: str) -> str:
    """The opaque token naming a DAG file (as `DAG.file_token`); memoised per file."""
    return _file_token(_secret(), fileloc)


def fileloc_from_token(token: str) -> str:
    value = loads(token, salt=FILE_TOKEN_SALT)
    if not isinstance(value, str):
        raise BadSignature("not a file token")
    return value
