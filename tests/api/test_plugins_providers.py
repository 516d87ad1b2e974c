"""`/plugins` and `/providers`: honestly empty (Aerovane has neither), still paged and
permission-checked like Airflow's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aerovane.api.v1.datamodels.plugins import PluginCollectionResponse
from aerovane.api.v1.datamodels.providers import ProviderCollectionResponse
from tests.api.test_errors import assert_problem


def test_plugins_are_empty(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.get("/plugins", auth=admin)
    assert response.status_code == 200
    assert response.json() == {"plugins": [], "total_entries": 0}
    PluginCollectionResponse.model_validate(response.json())
    paged = client.get("/plugins", params={"limit": 5, "offset": 10}, auth=admin)
    assert paged.json() == {"plugins": [], "total_entries": 0}


def test_plugins_validate_paging(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    assert_problem(client.get("/plugins", params={"limit": -1}, auth=admin), 400)
    assert_problem(client.get("/plugins", params={"offset": -1}, auth=admin), 400)
    assert_problem(client.get("/plugins", params={"order_by": "name"}, auth=admin), 400)


def test_providers_are_empty(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    response = client.get("/providers", auth=admin)
    assert response.status_code == 200
    assert response.json() == {"providers": [], "total_entries": 0}
    ProviderCollectionResponse.model_validate(response.json())
    # The spec gives /providers no paging parameters.
    assert_problem(client.get("/providers", params={"limit": 5}, auth=admin), 400)


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("path", ["/plugins", "/providers"])
def test_default_roles(client: httpx.Client, accounts: Any, path: str, role: str) -> None:
    response = client.get(path, auth=accounts[role].auth)
    expected = 200 if role in ("Admin", "Op") else 403
    assert response.status_code == expected, (path, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"


def test_anonymous_is_401(client: httpx.Client, accounts: Any) -> None:
    assert_problem(client.get("/plugins"), 401)
    assert_problem(client.get("/providers"), 401)


def test_official_client(base_url: str, accounts: Any) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.plugin_api import PluginApi
    from airflow_client.client.api.provider_api import ProviderApi

    conf = client.Configuration(host=f"{base_url}/api/v1", username="op", password="Op-pw")
    with client.ApiClient(conf) as api:
        assert PluginApi(api).get_plugins().plugins == []
        # The client types this response as a plain dict (the spec's inline allOf).
        assert ProviderApi(api).get_providers() == {"providers": [], "total_entries": 0}
