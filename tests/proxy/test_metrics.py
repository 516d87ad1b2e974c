"""The proxy's own `/_aerovane/proxy/metrics`: its admission decisions and the token service's
answers, to admitted callers only, and nothing of the API's or the scheduler's figures."""

from __future__ import annotations

import re

import httpx

from tests.proxy.conftest import JWT_BEARER, Account, bearer, id_token_for

PATH = "/_aerovane/proxy/metrics"


def _value(text: str, name: str, **labels: str) -> float:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(inner)}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _issued(text: str) -> float:
    return _value(
        text, "aerovane_identity_token_requests_total", grant="jwt_bearer", result="issued"
    )


def test_token_issuance_and_auth_results_are_counted(proxy_url: str, account: Account) -> None:
    headers = bearer(id_token_for(proxy_url, account))
    before = httpx.get(f"{proxy_url}{PATH}", headers=headers)
    assert before.status_code == 200, before.text
    assert before.headers["content-type"].startswith("text/plain")

    id_token_for(proxy_url, account)
    refused = httpx.post(
        f"{proxy_url}/token", data={"grant_type": JWT_BEARER, "assertion": "not-a-jwt"}
    )
    assert refused.status_code == 400
    anonymous = httpx.get(f"{proxy_url}{PATH}", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    forged = httpx.get(f"{proxy_url}{PATH}", headers=bearer("forged.token.value"))
    assert forged.status_code == 401

    after = httpx.get(f"{proxy_url}{PATH}", headers=headers).text
    assert _issued(after) == _issued(before.text) + 1
    invalid = {"grant": "jwt_bearer", "result": "invalid_grant"}
    name = "aerovane_identity_token_requests_total"
    assert _value(after, name, **invalid) == _value(before.text, name, **invalid) + 1
    for result, reason, more in (
        ("allowed", "bearer", 1),  # the second read itself
        ("denied", "no_credentials", 1),
        ("denied", "invalid_credentials", 1),
    ):
        labels = {"result": result, "reason": reason}
        was = _value(before.text, "aerovane_proxy_auth_total", **labels)
        assert _value(after, "aerovane_proxy_auth_total", **labels) == was + more, labels
    # Only the proxy's families: DAG, task and route names stay behind the API's own check.
    families = set(re.findall(r"^# TYPE (\S+)", after, re.MULTILINE))
    assert families and all(
        f.startswith(("aerovane_proxy_", "aerovane_identity_")) for f in families
    )


def test_the_apis_metrics_path_is_still_forwarded(proxy_url: str, account: Account) -> None:
    response = httpx.get(f"{proxy_url}/metrics", headers=bearer(id_token_for(proxy_url, account)))
    # The API answers (a service account maps to `[api] composer_auth_user_registration_role`,
    # Op, which reads Cluster Activity): its request histogram is there.
    assert response.status_code == 200, response.text
    assert "# TYPE aerovane_api_request_duration_seconds histogram" in response.text
