"""Aerovane's signing keys: created once even under a race, rotated, published, then purged."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.identity import keys

PURPOSES = (keys.TOKEN, keys.IAP, keys.REFRESH)


def _rows(purpose: str) -> list[models.SigningKey]:
    with create_session(readonly=True) as session:
        return list(
            session.scalars(
                select(models.SigningKey)
                .where(models.SigningKey.purpose == purpose)
                .order_by(models.SigningKey.id)
            )
        )


def _current(purpose: str) -> keys.ActiveKey:
    with create_session(readonly=True) as session:
        return keys.signing_key(purpose, session=session)


@pytest.mark.parametrize("purpose", PURPOSES)
def test_one_key_per_purpose_with_the_pinned_algorithm(db: Path, purpose: str) -> None:
    first = _current(purpose)
    assert _current(purpose).kid == first.kid
    (row,) = _rows(purpose)
    assert row.alg == keys.ALGORITHMS[purpose] == first.alg
    assert row.is_encrypted and "PRIVATE KEY" not in row.private_key
    assert row.rotated_at is None and row.expires_at is None
    assert "ActiveKey(kid=" in repr(first) and "private" not in repr(first).lower()


def test_threads_racing_create_exactly_one_key(db: Path) -> None:
    barrier = threading.Barrier(6)
    kids: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            kids.append(_current(keys.TOKEN).kid)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(kids)) == 1
    assert len(_rows(keys.TOKEN)) == 1


_RACER = """
import sys
from aerovane.db.engine import create_session
from aerovane.identity import keys
go = sys.argv[1]
import os, time
while not os.path.exists(go):
    time.sleep(0.001)
with create_session(readonly=True) as session:
    print(keys.signing_key("iap", session=session).kid)
"""


def test_processes_racing_create_exactly_one_key(db: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER, str(go)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    go.touch()
    outputs = [racer.communicate(timeout=300)[0].strip() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert len(set(outputs)) == 1
    assert len(_rows(keys.IAP)) == 1


def test_rotation_keeps_the_old_key_published_until_it_expires(db: Path) -> None:
    old = _current(keys.TOKEN)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with create_session() as session:
        session.execute(
            update(models.SigningKey)
            .where(models.SigningKey.kid == old.kid)
            .values(created_at=long_ago)
        )
    new = _current(keys.TOKEN)
    assert new.kid != old.kid
    rotated, current = _rows(keys.TOKEN)
    assert rotated.kid == old.kid and rotated.rotated_at is not None
    assert rotated.expires_at is not None
    assert rotated.expires_at - rotated.rotated_at == dt.timedelta(seconds=3600 + 60)
    assert current.rotated_at is None
    with create_session(readonly=True) as session:
        published = [k.kid for k in keys.published_keys(keys.TOKEN, session=session)]
    assert published == [old.kid, new.kid]

    # Once expired it is no longer published, and the next rotation deletes it.
    with create_session() as session:
        session.execute(
            update(models.SigningKey)
            .where(models.SigningKey.kid == old.kid)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        session.execute(
            update(models.SigningKey)
            .where(models.SigningKey.kid == new.kid)
            .values(created_at=long_ago)
        )
    with create_session(readonly=True) as session:
        assert [k.kid for k in keys.published_keys(keys.TOKEN, session=session)] == [new.kid]
    newest = _current(keys.TOKEN)
    assert [r.kid for r in _rows(keys.TOKEN)] == [new.kid, newest.kid]


def test_iap_keys_expire_after_the_assertion_lifetime(db: Path) -> None:
    old = _current(keys.IAP)
    with create_session() as session:
        session.execute(
            update(models.SigningKey)
            .where(models.SigningKey.kid == old.kid)
            .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
        )
    _current(keys.IAP)
    rotated = _rows(keys.IAP)[0]
    assert rotated.expires_at is not None and rotated.rotated_at is not None
    assert rotated.expires_at - rotated.rotated_at == dt.timedelta(seconds=600 + 60)


def test_signing_inside_a_write_session(db: Path) -> None:
    """On SQLite the write session holds the only write lock: the key is made inside it."""
    with create_session() as session:
        session.scalar(select(func.count()).select_from(models.User))
        kid = keys.signing_key(keys.TOKEN, session=session).kid
    assert [r.kid for r in _rows(keys.TOKEN)] == [kid]


def test_unknown_purpose(db: Path) -> None:
    with create_session(readonly=True) as session, pytest.raises(ValueError):
        keys.signing_key("session", session=session)


# -- publication over HTTP ---------------------------------------------------------------------


def test_certificate_urls(server_url: str) -> None:
    pem_map = httpx.get(f"{server_url}/oauth2/v1/certs", timeout=30).json()
    jwks = httpx.get(f"{server_url}/oauth2/v3/certs", timeout=30).json()
    (kid,) = pem_map
    assert pem_map[kid].startswith("-----BEGIN PUBLIC KEY-----")
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == kid and jwk["kty"] == "RSA" and jwk["alg"] == "RS256"
    assert jwk["use"] == "sig" and {"n", "e"} <= set(jwk)
    assert "d" not in jwk

    iap_map = httpx.get(f"{server_url}/iap/verify/public_key", timeout=30).json()
    iap_jwks = httpx.get(f"{server_url}/iap/verify/public_key-jwk", timeout=30).json()
    (iap_kid,) = iap_map
    (iap_jwk,) = iap_jwks["keys"]
    assert iap_jwk["kid"] == iap_kid and iap_jwk["kty"] == "EC" and iap_jwk["crv"] == "P-256"
    assert iap_jwk["alg"] == "ES256" and "d" not in iap_jwk
    assert iap_kid != kid
    # Refresh-token keys are never published.
    refresh_kid = _current(keys.REFRESH).kid
    for url in ("/oauth2/v1/certs", "/iap/verify/public_key"):
        assert refresh_kid not in httpx.get(server_url + url, timeout=30).json()


def test_openid_configuration(server_url: str) -> None:
    config = httpx.get(f"{server_url}/.well-known/openid-configuration", timeout=30).json()
    assert config["issuer"] == server_url
    assert config["token_endpoint"] == f"{server_url}/token"
    assert config["jwks_uri"] == f"{server_url}/oauth2/v3/certs"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    jwks = httpx.get(config["jwks_uri"], timeout=30).json()
    assert jwks["keys"]


def test_service_account_public_keys(server_url: str, make_account) -> None:  # type: ignore[no-untyped-def]
    info = make_account("robot-one")
    certs = httpx.get(info["client_x509_cert_url"], timeout=30)
    assert certs.status_code == 200
    assert list(certs.json()) == [info["private_key_id"]]
    assert "PRIVATE" not in certs.text
    missing = httpx.get(
        f"{server_url}/service_accounts/v1/metadata/x509/nobody%40x.iam.gserviceaccount.com",
        timeout=30,
    )
    assert missing.status_code == 404
