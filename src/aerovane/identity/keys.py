"""Aerovane's own signing keys (`SigningKey` rows): creating, rotating, publishing, loading.

Purposes and algorithms are fixed: `token` keys (RS256) sign ID and access tokens and are
published at the OIDC certificate URLs; `iap` keys (ES256, P-256) sign the proxy's assertions and
are published at the IAP key URLs; `refresh` keys (ES256) sign people's refresh tokens and are
never published. A key signs until `[identity] signing_key_rotation_interval` has passed since its
creation; it then gets `rotated_at` and stays published until `expires_at` (rotation + the
longest lifetime of what it signed + clock skew), after which it is deleted.

Creating or rotating "the current key" is serialized across processes: on PostgreSQL under a
transaction-scoped advisory lock, on SQLite by the write lock every write session takes at
`BEGIN IMMEDIATE`. The winner commits; everyone else then finds its key. Private keys are
Fernet-encrypted at rest and never logged.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from aerovane.config import get_settings
from aerovane.db import models
from aerovane.db.crypto import decrypt, encrypt
from aerovane.db.engine import create_session
from aerovane.identity import project

log = logging.getLogger(__name__)

TOKEN = "token"
IAP = "iap"
REFRESH = "refresh"

ALGORITHMS: dict[str, str] = {TOKEN: "RS256", IAP: "ES256", REFRESH: "ES256"}
REFRESH_TOKEN_LIFETIME = 30 * 24 * 3600

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_READONLY_OPTION = "aerovane_readonly"  # see aerovane.db.engine


@dataclass(frozen=True)
class ActiveKey:
    """The key that signs now. Never logged: `repr` hides the private half."""

    kid: str
    alg: str
    purpose: str
    private_key: PrivateKey

    def __repr__(self) -> str:
        return f"ActiveKey(kid={self.kid!r}, alg={self.alg!r}, purpose={self.purpose!r})"


@dataclass(frozen=True)
class PublishedKey:
    kid: str
    alg: str
    public_key_pem: str


# -- key material -------------------------------------------------------------------------------


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported algorithm {alg}")


def private_key_pem(key: PrivateKey) -> str:
    """PKCS#8 PEM, unencrypted (the format of Google's key files)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(key: PrivateKey | PublicKey) -> str:
    public = (
        key.public_key() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else key
    )
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _b64url_uint(value: int, length: int | None = None) -> str:
    data = value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(published: PublishedKey) -> dict[str, Any]:
    """The key as a JWK (RFC 7517) with `kid`, `alg` and `use: sig`."""
    public = load_public_key(published.public_key_pem)
    entry: dict[str, Any] = {"kid": published.kid, "alg": published.alg, "use": "sig"}
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        entry.update(kty="RSA", n=_b64url_uint(numbers.n), e=_b64url_uint(numbers.e))
    else:
        point = public.public_numbers()
        entry.update(
            kty="EC", crv="P-256", x=_b64url_uint(point.x, 32), y=_b64url_uint(point.y, 32)
        )
    return entry


_public_cache: dict[str, PublicKey] = {}
_private_cache: dict[str, PrivateKey] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 256


def load_public_key(pem: str) -> PublicKey:
    with _cache_lock:
        cached = _public_cache.get(pem)
    if cached is not None:
        return cached
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("unsupported public key type")
    with _cache_lock:
        if len(_public_cache) >= _CACHE_MAX:
            _public_cache.clear()
        _public_cache[pem] = key
    return key


def _load_private(row: models.SigningKey) -> PrivateKey:
    """Decrypt and parse once per kid (a kid's key never changes)."""
    with _cache_lock:
        cached = _private_cache.get(row.kid)
    if cached is not None:
        return cached
    pem = decrypt(row.private_key, row.is_encrypted)
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("unsupported signing key type")
    with _cache_lock:
        if len(_private_cache) >= _CACHE_MAX:
            _private_cache.clear()
        _private_cache[row.kid] = key
    return key


# -- lifetimes ----------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def signed_lifetime(purpose: str) -> int:
    """The longest lifetime of anything a key of this purpose signs, in seconds."""
    if purpose == IAP:
        return project.IAP_ASSERTION_LIFETIME
    if purpose == REFRESH:
        return REFRESH_TOKEN_LIFETIME
    return project.token_lifetime()


def _rotation_due(row: models.SigningKey, now: dt.datetime) -> bool:
    interval = get_settings().getint("identity", "signing_key_rotation_interval")
    return row.created_at + dt.timedelta(seconds=interval) <= now


# -- the current key ----------------------------------------------------------------------------


def _current_row(purpose: str, session: Session) -> models.SigningKey | None:
    return session.scalar(
        select(models.SigningKey)
        .where(models.SigningKey.purpose == purpose, models.SigningKey.rotated_at.is_(None))
        .order_by(models.SigningKey.created_at.desc(), models.SigningKey.id.desc())
        .limit(1)
    )


def _active(row: models.SigningKey) -> ActiveKey:
    return ActiveKey(row.kid, row.alg, row.purpose, _load_private(row))


def signing_key(purpose: str, *, session: Session) -> ActiveKey:
    """The key that signs `purpose` now, created or rotated first if need be.

    Creation happens in a transaction of its own that commits at once (so no token is ever
    signed by a key a caller's rollback could erase), except on SQLite when `session` is a write
    session: it already holds the database's only write lock, so a second writer would wait on
    it forever; there the key is created inside `session` (under a savepoint).
    """
    if purpose not in ALGORITHMS:
        raise ValueError(f"unknown signing key purpose {purpose!r}")
    row = _current_row(purpose, session)
    if row is not None and not _rotation_due(row, _now()):
        return _active(row)
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and not bind.get_execution_options().get(_READONLY_OPTION):
        with session.begin_nested():
            return _create_or_rotate(purpose, session)
    with create_session(url=bind.url.render_as_string(hide_password=False)) as own:
        return _create_or_rotate(purpose, own)


def _lock(purpose: str, session: Session) -> None:
    """Serialize key creation for `purpose` across processes (see the module docstring)."""
    if session.get_bind().dialect.name == "postgresql":
        key = 0x41455256_00000000 | zlib.crc32(f"signing_key:{purpose}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        # SQLite: the first statement of a write session takes the write lock (BEGIN IMMEDIATE).
        session.execute(text("SELECT 1"))


def _create_or_rotate(purpose: str, session: Session) -> ActiveKey:
    _lock(purpose, session)
    now = _now()
    row = _current_row(purpose, session)  # re-read under the lock: someone may have won
    if row is not None and not _rotation_due(row, now):
        return _active(row)
    if row is not None:
        row.rotated_at = now
        row.expires_at = now + dt.timedelta(seconds=signed_lifetime(purpose) + project.clock_skew())
    session.execute(
        delete(models.SigningKey).where(
            models.SigningKey.purpose == purpose,
            models.SigningKey.expires_at.is_not(None),
            models.SigningKey.expires_at < now,
        )
    )
    alg = ALGORITHMS[purpose]
    key = generate_private_key(alg)
    stored, is_encrypted = encrypt(private_key_pem(key))
    kid = secrets.token_hex(20)
    session.add(
        models.SigningKey(
            kid=kid,
            purpose=purpose,
            alg=alg,
            private_key=stored,
            is_encrypted=is_encrypted,
            public_key_pem=public_key_pem(key),
            created_at=now,
        )
    )
    session.flush()
    log.info("Created %s signing key %s (%s)", purpose, kid, alg)
    with _cache_lock:
        _private_cache[kid] = key
    return ActiveKey(kid, alg, purpose, key)


# -- publishing and lookup ----------------------------------------------------------------------


def published_keys(purpose: str, *, session: Session) -> list[PublishedKey]:
    """Every key of `purpose` whose tokens may still be valid, oldest first."""
    rows = session.execute(
        select(models.SigningKey.kid, models.SigningKey.alg, models.SigningKey.public_key_pem)
        .where(
            models.SigningKey.purpose == purpose,
            (models.SigningKey.expires_at.is_(None)) | (models.SigningKey.expires_at > _now()),
        )
        .order_by(models.SigningKey.created_at, models.SigningKey.id)
    )
    return [PublishedKey(kid, alg, pem) for kid, alg, pem in rows]


def verification_key(purpose: str, kid: str, *, session: Session) -> PublicKey | None:
    """The public key `kid` of `purpose` if it is still published, else None.

    On SQLite a transaction reads a snapshot, which misses a key another connection created
    since it began (e.g. one `signing_key` just made); an unknown kid is looked up once more
    in a fresh transaction there.
    """
    query = select(models.SigningKey.alg, models.SigningKey.public_key_pem).where(
        models.SigningKey.kid == kid,
        models.SigningKey.purpose == purpose,
        (models.SigningKey.expires_at.is_(None)) | (models.SigningKey.expires_at > _now()),
    )
    row = session.execute(query).first()
    bind = session.get_bind()
    if row is None and bind.dialect.name == "sqlite":
        url = bind.url.render_as_string(hide_password=False)
        with create_session(readonly=True, url=url) as fresh:
            row = fresh.execute(query).first()
    if row is None or row.alg != ALGORITHMS[purpose]:
        return None
    return load_public_key(row.public_key_pem)
