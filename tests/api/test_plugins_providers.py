"""`/plugins` (the plugins folder's plugins) and `/providers` (honestly empty), paged and
permission-checked like Airflow's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aerovane.api.v1.datamodels.plugins import PluginCollectionResponse
from aerovane.api.v1.datamodels.providers import ProviderCollectionResponse
from tests.api.test_errors import assert_problem


def test_plugins_are_empty_without_a_plugins_folder(
    client: httpx.Client, admin: httpx.BasicAuth
) -> None:
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


PLUGIN = """
from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import Timetable


def shout(text):
    return text.upper()


class Quiet(Timetable):
    pass


class Listener:
    @hookimpl
    def on_task_instance_success(self, task_instance):
        pass


class ShoutPlugin(AirflowPlugin):
    name = "shout"
    macros = [shout]
    timetables = [Quiet]
    listeners = [Listener()]
"""


@pytest.fixture
def plugins_folder(db: Any) -> Any:
    from aerovane.authoring.plugins import reset_plugins
    from aerovane.compat import airflow_shim
    from aerovane.config import get_settings

    folder = get_settings().plugins_folder
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    finally:
        reset_plugins()
        airflow_shim.uninstall()


def test_plugins_from_the_plugins_folder_are_listed(
    client: httpx.Client, admin: httpx.BasicAuth, plugins_folder: Any
) -> None:
    (plugins_folder / "shout_plugin.py").write_text(PLUGIN)
    (plugins_folder / "broken_plugin.py").write_text("import no_such_module\n")
    response = client.get("/plugins", auth=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    PluginCollectionResponse.model_validate(body)
    assert body["total_entries"] == 1
    (plugin,) = body["plugins"]
    assert plugin["name"] == "shout"
    assert plugin["macros"] == ["shout_plugin.shout"]
    assert plugin["timetables"] == ["shout_plugin.Quiet"]
    assert plugin["listeners"] == ["shout_plugin.Listener"]
    assert plugin["source"] == "$PLUGINS_FOLDER/shout_plugin.py"
    assert client.get("/plugins", params={"offset": 1}, auth=admin).json() == {
        "plugins": [],
        "total_entries": 1,
    }
