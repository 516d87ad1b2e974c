"""Client-sent X-Goog-* headers never reach the upstream; bad credential headers are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aerovane.proxy.headers import (
    MAX_CREDENTIAL_BYTES,
    HeaderError,
    IdentityHeadersMiddleware,
    clean_headers,
)
from tests.proxy.conftest import Account, asgi_request, bearer, echo_app, id_token_for

FORGED = {
    "X-Goog-Authenticated-User-Email": "accounts.google.com:admin@example.com",
    "x-goog-authenticated-user-id": "accounts.google.com:100000000000000000001",
    "X-GOOG-IAP-JWT-ASSERTION": "eyJhbGciOiJub25lIn0.e30.",
    "X-Goog-Iap-Jwt-Assertion": "second-copy",
    "x-goog-api-client": "gl-python/3.11",
}


def test_clean_headers_unit() -> None:
    kept = clean_headers(
        [
            (b"x-goog-authenticated-user-email", b"a"),
            (b"X-Goog-Whatever", b"b"),
            (b"accept", b"*/*"),
            (b"x-googled", b"kept: not the x-goog- prefix"),
        ]
    )
    assert kept == [(b"accept", b"*/*"), (b"x-googled", b"kept: not the x-goog- prefix")]
    with pytest.raises(HeaderError) as too_big:
        clean_headers([(b"authorization", b"Bearer " + b"a" * MAX_CREDENTIAL_BYTES)])
    assert too_big.value.status == 431
    with pytest.raises(HeaderError) as twice:
        clean_headers([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")])
    assert twice.value.status == 400
    with pytest.raises(HeaderError) as binary:
        clean_headers([(b"proxy-authorization", b"Bearer \xff\x00")])
    assert binary.value.status == 400
    with pytest.raises(HeaderError) as cookies:
        clean_headers([(b"cookie", b"a=" + b"b" * 20000)])
    assert cookies.value.status == 431
    with pytest.raises(HeaderError) as head:
        clean_headers([(b"x-filler", b"z" * 4000)] * 20)
    assert head.value.status == 431


def test_middleware_refusals_and_stripping(aerovane_home: Path) -> None:
    app = IdentityHeadersMiddleware(echo_app)
    echoed = asgi_request(app, "GET", "/", headers={**FORGED, "Accept": "text/plain"}).json()
    assert not any(name.startswith("x-goog-") for name in echoed["headers"])
    assert echoed["headers"]["accept"] == ["text/plain"]
    big = asgi_request(app, "GET", "/", headers={"Authorization": "Bearer " + "a" * 9000})
    assert big.status_code == 431
    control = asgi_request(app, "GET", "/", headers={"Authorization": "Bearer a\tb\x01"})
    assert control.status_code == 400


def test_forged_identity_headers_sent_to_the_proxy_are_replaced(
    echo_proxy_url: str, account: Account
) -> None:
    token = id_token_for(echo_proxy_url, account)
    echoed = httpx.get(f"{echo_proxy_url}/who", headers={**FORGED, **bearer(token)}).json()
    headers = echoed["headers"]
    goog = {name: values for name, values in headers.items() if name.startswith("x-goog-")}
    assert set(goog) == {
        "x-goog-authenticated-user-email",
        "x-goog-authenticated-user-id",
        "x-goog-iap-jwt-assertion",
    }
    assert goog["x-goog-authenticated-user-email"] == [f"accounts.google.com:{account.email}"]
    assert goog["x-goog-authenticated-user-id"] == [f"accounts.google.com:{account.unique_id}"]
    assert len(goog["x-goog-iap-jwt-assertion"]) == 1
    assert goog["x-goog-iap-jwt-assertion"][0] not in FORGED.values()


def test_forged_identity_headers_sent_straight_to_the_api(api_url: str) -> None:
    """The IAP backend believes only a verifiable assertion: plain headers name nobody."""
    from tests.proxy.conftest import add_user

    add_user("admin", ["Admin"], email="admin@example.com")
    response = httpx.get(
        f"{api_url}/api/v1/dags",
        headers={
            "X-Goog-Authenticated-User-Email": "accounts.google.com:admin@example.com",
            "X-Goog-Authenticated-User-Id": "accounts.google.com:100000000000000000001",
        },
    )
    assert response.status_code == 401
    forged = httpx.get(
        f"{api_url}/api/v1/dags",
        headers={"X-Goog-IAP-JWT-Assertion": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    )
    assert forged.status_code == 401
    # The chain's last backend (basic_auth) has the final word on the challenge.
    assert forged.headers["www-authenticate"] == "Basic"
