"""A bounded memory of JWTs whose signature and claims already checked out.

Verifying a token costs a key lookup and a signature check; the proxy and the `iap` backend see
the same few tokens on every request (a client reuses its ID token for an hour, the proxy its
assertion for minutes). Entries are keyed by a digest of the token (the token itself is not
kept), live until the token's own `exp` or `max_age`, whichever is first, and belong to one
settings snapshot: a configuration change (issuer, audience, secrets) starts afresh. Failures
are never cached. This cache only saves the cryptography: callers still check on every request
that the token's principal exists and is enabled (`check_principal`, one indexed query: the
rule of `aerovane.identity.principals.resolve_principal` without loading ORM objects).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.identity import TokenError
from aerovane.identity.principals import USER_ID_BASE, is_user_id

V = TypeVar("V")

_USER_STATE = select(models.User.active, models.User.email).where(models.User.id == bindparam("id"))
_ACCOUNT_STATE = select(~models.ServiceAccount.disabled, models.ServiceAccount.email).where(
    models.ServiceAccount.unique_id == bindparam("unique_id")
)


def check_principal(unique_id: str, email: str, *, session: Session | Connection) -> None:
    """TokenError unless the principal with this id and email exists and is enabled."""
    if is_user_id(unique_id):
        row = session.execute(_USER_STATE, {"id": int(unique_id) - USER_ID_BASE}).first()
    else:
        row = session.execute(_ACCOUNT_STATE, {"unique_id": unique_id}).first()
    if row is None or not row[0] or str(row[1]).lower() != email.lower():
        raise TokenError("Principal is disabled or does not exist")


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWT, without any check (for tokens verified already)."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def unverified_header(token: str) -> dict[str, Any]:
    """The header of a compact JWT, without any check (cheap; PyJWT's also decodes the rest)."""
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return header if isinstance(header, dict) else {}


class VerifiedTokenCache(Generic[V]):
    def __init__(self, *, max_entries: int = 10_000, max_age: float = 300.0) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[V, float]] = OrderedDict()
        self._generation: object = None

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.blake2b(token.encode("utf-8", "replace"), digest_size=20).digest()

    def bind(self, generation: object) -> None:
        """Forget everything when `generation` (a settings snapshot) is not the last one seen."""
        if generation is not self._generation:
            with self._lock:
                self._entries.clear()
                self._generation = generation

    def get(self, token: str) -> V | None:
        entry = self._entries.get(self._key(token))
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def put(self, token: str, value: V) -> None:
        exp = unverified_claims(token).get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        expires_at = min(float(exp), time.time() + self.max_age)
        key = self._key(token)
        with self._lock:
            self._entries[key] = (value, expires_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
