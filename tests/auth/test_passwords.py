"""Password hashing and the cache of successful verifications."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from aerovane.auth import passwords
from aerovane.auth.passwords import (
    VerificationCache,
    hash_password,
    verify_password,
    verify_user_password,
)


@pytest.fixture
def kdf_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """Every call of the KDF, recorded; the verification cache starts empty."""
    calls: list[tuple[Any, ...]] = []
    real = passwords._derive

    def counting(*args: Any) -> bytes:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(passwords, "_derive", counting)
    monkeypatch.setattr(passwords, "verification_cache", VerificationCache())
    yield calls


def test_hash_format() -> None:
    stored = hash_password("correct horse")
    method, salt, digest = stored.split("$")
    assert method == "scrypt:16384:8:1"
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert hash_password("correct horse") != stored  # fresh salt every time


def test_verify() -> None:
    stored = hash_password("correct horse")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horse ")
    assert not verify_password(stored, "")
    assert verify_password(hash_password(""), "")
    assert verify_password(hash_password("pässwörd ✓"), "pässwörd ✓")


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "plain-text",
        "scrypt:16384:8:1$onlytwo",
        "scrypt:x:8:1$AAAA$AAAA",
        "scrypt:16384:8:1$not base64!$AAAA",
        "scrypt:1:8:1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
        "scrypt:16384:8:1$AAAAAAAAAAAAAAAAAAAAAA==$",
        "md5$abc$def",
        "pbkdf2:sha1:1000$salt$00",
        "pbkdf2:sha256:lots$salt$00",
    ],
)
def test_malformed_hashes_never_verify(stored: str | None) -> None:
    assert verify_password(stored, "anything") is False


def test_werkzeug_pbkdf2_hashes_from_airflow_verify() -> None:
    salt, iterations = "Ab3dEf9hIjKlMnOp", 600000
    digest = hashlib.pbkdf2_hmac("sha256", b"airflow", salt.encode(), iterations).hex()
    stored = f"pbkdf2:sha256:{iterations}${salt}${digest}"
    assert verify_password(stored, "airflow")
    assert not verify_password(stored, "Airflow")


def test_second_verification_skips_the_kdf(kdf_calls: list[tuple[Any, ...]]) -> None:
    stored = hash_password("pw")
    kdf_calls.clear()
    assert verify_user_password("alice", stored, "pw")
    assert len(kdf_calls) == 1
    for _ in range(5):
        assert verify_user_password("alice", stored, "pw")
    assert len(kdf_calls) == 1


def test_failures_are_never_cached(kdf_calls: list[tuple[Any, ...]]) -> None:
    stored = hash_password("pw")
    kdf_calls.clear()
    for _ in range(3):
        assert not verify_user_password("alice", stored, "guess")
    assert len(kdf_calls) == 3
    assert len(passwords.verification_cache) == 0


def test_cache_is_keyed_by_user_password_and_hash(kdf_calls: list[tuple[Any, ...]]) -> None:
    stored = hash_password("pw")
    assert verify_user_password("alice", stored, "pw")
    kdf_calls.clear()
    # Another username with the same hash and password is a separate check.
    assert verify_user_password("bob", stored, "pw")
    assert len(kdf_calls) == 1
    # A new hash (password changed) misses, and the old password no longer works.
    new_stored = hash_password("new")
    kdf_calls.clear()
    assert not verify_user_password("alice", new_stored, "pw")
    assert verify_user_password("alice", new_stored, "new")
    assert len(kdf_calls) == 2


def test_cache_never_holds_the_password() -> None:
    cache = VerificationCache()
    cache.add("alice", "hunter2-secret", "scrypt:1$2$3")
    keys = list(cache._entries)
    assert all(len(k) == 32 for k in keys)
    assert all(b"hunter2" not in k for k in keys)
    assert cache.contains("alice", "hunter2-secret", "scrypt:1$2$3")
    # Length-prefixed parts: shifting characters between fields is a different entry.
    assert not cache.contains("alicehunter2-secret", "", "scrypt:1$2$3")
    assert not cache.contains("alic", "ehunter2-secret", "scrypt:1$2$3")


def test_cache_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = itertools.count(1000.0, 0)
    now = [1000.0]
    monkeypatch.setattr(passwords.time, "monotonic", lambda: now[0])
    del clock
    cache = VerificationCache(ttl=60)
    cache.add("alice", "pw", "h")
    now[0] += 59
    assert cache.contains("alice", "pw", "h")
    now[0] += 2
    assert not cache.contains("alice", "pw", "h")
    assert len(cache) == 0


def test_cache_is_bounded() -> None:
    cache = VerificationCache(max_entries=3)
    for i in range(10):
        cache.add(f"user{i}", "pw", "h")
    assert len(cache) == 3
    assert cache.contains("user9", "pw", "h")
    assert not cache.contains("user0", "pw", "h")


def test_missing_hash_still_spends_a_kdf(kdf_calls: list[tuple[Any, ...]]) -> None:
    passwords._dummy_hash()
    kdf_calls.clear()
    assert not verify_user_password("ghost", None, "pw")
    assert len(kdf_calls) == 1


def test_cache_is_thread_safe() -> None:
    import threading

    cache = VerificationCache(max_entries=50)

    def worker(n: int) -> None:
        for i in range(200):
            cache.add(f"u{n}-{i}", "pw", "h")
            cache.contains(f"u{n}-{i}", "pw", "h")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 50
