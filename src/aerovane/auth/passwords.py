"""Password hashing (scrypt) and a short-lived cache of successful verifications.

Hashes look like `scrypt:16384:8:1$<salt b64>$<hash b64>`. Basic auth checks a password on every
request, so `verify_user_password` remembers a successful check for a minute under an HMAC of
(username, password, stored hash) keyed by a per-process random secret: the password itself is
never kept, and a changed hash (new password) or a changed username simply misses. Failed checks
are never cached, so guessing always pays the KDF.

This module owns hashing only; where hashes are stored is `aerovane.auth.users`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
_MAXMEM = 64 * 1024 * 1024

CACHE_TTL_SECONDS = 60.0
CACHE_MAX_ENTRIES = 1024


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    """The KDF itself; the only expensive step (tests count calls to it)."""
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=dklen)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """A new salted scrypt hash of `password` in the stored format."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password.encode("utf-8"), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _verify_scrypt(method: str, salt_text: str, hash_text: str, candidate: str) -> bool:
    try:
        _, n_text, r_text, p_text = method.split(":")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(hash_text, validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= 2**20 and 0 < r <= 32 and 0 < p <= 16 and expected):
        return False
    try:
        actual = _derive(candidate.encode("utf-8"), salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def _verify_pbkdf2(method: str, salt_text: str, hash_text: str, candidate: str) -> bool:
    """Werkzeug's `pbkdf2:sha256:<iterations>$salt$hex`, as Airflow/FAB stores it.

    Lets users copied from an Airflow metadata database keep their passwords.
    """
    try:
        _, digest_name, iterations_text = method.split(":")
        iterations = int(iterations_text)
        expected = bytes.fromhex(hash_text)
    except ValueError:
        return False
    if digest_name not in {"sha256", "sha512"} or not 0 < iterations <= 10_000_000:
        return False
    actual = hashlib.pbkdf2_hmac(
        digest_name, candidate.encode("utf-8"), salt_text.encode("utf-8"), iterations
    )
    return hmac.compare_digest(actual, expected)


def verify_password(stored: str | None, candidate: str) -> bool:
    """Whether `candidate` matches the stored hash (False for a missing or malformed hash)."""
    if not stored:
        return False
    parts = stored.split("$")
    if len(parts) != 3:
        return False
    method, salt_text, hash_text = parts
    if method.startswith("scrypt:"):
        return _verify_scrypt(method, salt_text, hash_text, candidate)
    if method.startswith("pbkdf2:"):
        return _verify_pbkdf2(method, salt_text, hash_text, candidate)
    return False


class VerificationCache:
    """Remembers successful (username, password, stored hash) checks for `ttl` seconds."""

    def __init__(self, *, ttl: float = CACHE_TTL_SECONDS, max_entries: int = CACHE_MAX_ENTRIES):
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, float] = OrderedDict()

    def _fingerprint(self, username: str, password: str, stored: str) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (username, password, stored):
            data = part.encode("utf-8")
            # Length-prefix each part so ("ab", "c") and ("a", "bc") never collide.
            mac.update(len(data).to_bytes(8, "big"))
            mac.update(data)
        return mac.digest()

    def contains(self, username: str, password: str, stored: str) -> bool:
        key = self._fingerprint(username, password, stored)
        now = time.monotonic()
        with self._lock:
            expires = self._entries.get(key)
            if expires is None:
                return False
            if expires <= now:
                del self._entries[key]
                return False
            return True

    def add(self, username: str, password: str, stored: str) -> None:
        key = self._fingerprint(username, password, stored)
        expires = time.monotonic() + self.ttl
        with self._lock:
            self._entries[key] = expires
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


verification_cache = VerificationCache()

# Verified against when a username is unknown, so that a miss costs as much as a wrong password.
_DUMMY_HASH: str | None = None
_dummy_lock = threading.Lock()


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        with _dummy_lock:
            if _DUMMY_HASH is None:
                _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


class PasswordCheck(enum.Enum):
    WRONG = "wrong"
    #: Checked by the KDF just now: a new sign-in (`aerovane.auth.sign_ins`).
    VERIFIED = "verified"
    #: The same check passed within `CACHE_TTL_SECONDS`: part of an earlier sign-in.
    REMEMBERED = "remembered"


def check_user_password(username: str, stored: str | None, candidate: str) -> PasswordCheck:
    """`verify_password` for a login, skipping the KDF when this exact check passed recently."""
    if not stored:
        burn_verification(candidate)
        return PasswordCheck.WRONG
    if verification_cache.contains(username, candidate, stored):
        return PasswordCheck.REMEMBERED
    if not verify_password(stored, candidate):
        return PasswordCheck.WRONG
    verification_cache.add(username, candidate, stored)
    return PasswordCheck.VERIFIED


def verify_user_password(username: str, stored: str | None, candidate: str) -> bool:
    """Whether `candidate` is the user's password (see `check_user_password`)."""
    return check_user_password(username, stored, candidate) is not PasswordCheck.WRONG


def burn_verification(candidate: str) -> None:
    """Spend one KDF run, for a login whose username does not exist (no timing oracle)."""
    verify_password(_dummy_hash(), candidate)
