"""Fernet encryption of secrets at rest (`[core] fernet_key`, comma-separated for rotation)."""

from __future__ import annotations

import functools
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from aerovane.config import get_settings

log = logging.getLogger(__name__)


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with the configured key(s)."""


@functools.lru_cache(maxsize=4)
def _fernet_for(key_setting: str) -> MultiFernet | None:
    if not key_setting:
        log.warning("[core] fernet_key is empty: secrets are stored unencrypted")
        return None
    return MultiFernet([Fernet(k.strip().encode()) for k in key_setting.split(",") if k.strip()])


def get_fernet() -> MultiFernet | None:
    return _fernet_for(get_settings().getstr("core", "fernet_key"))


def encrypt(value: str) -> tuple[str, bool]:
    """Return (stored text, is_encrypted)."""
    fernet = get_fernet()
    if fernet is None:
        return value, False
    return fernet.encrypt(value.encode()).decode(), True


def decrypt(stored: str, is_encrypted: bool) -> str:
    if not is_encrypted:
        return stored
    fernet = get_fernet()
    if fernet is None:
        raise DecryptionError("secret is encrypted but [core] fernet_key is empty")
    try:
        return fernet.decrypt(stored.encode()).decode()
    except InvalidToken:
        raise DecryptionError("cannot decrypt a stored secret: wrong [core] fernet_key?") from None
