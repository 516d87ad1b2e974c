"""`aerovane.client` against the control plane and the proxy, with real google-auth tokens:
the client id from the sign-in redirect, ID-token (IAP) requests, access-token requests, and
triggering a DAG through the stable and the experimental API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.api.conftest import add_dag, run_server, set_config
from tests.control.conftest import LOCATION, PROJECT, Account


@pytest.fixture
def proxy_url(server_url: str, admin: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The proxy in front of an in-process API app; the environment's airflowUri points at it.

    The API runs Composer's auth backend, which registers callers the proxy vouches for with
    [api] composer_auth_user_registration_role (Op).
    """
    from aerovane.api.app import create_app
    from aerovane.proxy import create_proxy_app

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(admin.key_path))
    set_config(monkeypatch, api__auth_backends="airflow.composer.api.backend.composer_auth")
    with run_server(create_proxy_app(create_app())) as url:
        set_config(monkeypatch, webserver__base_url=url)
        yield url


def test_get_client_id(proxy_url: str, server_url: str) -> None:
    from aerovane.client import get_client_id
    from aerovane.identity import oauth_client_id

    client_id = get_client_id(PROJECT, LOCATION, "aerovane", control_url=server_url)
    assert client_id == oauth_client_id()
    assert client_id.endswith(".apps.googleusercontent.com")


def test_get_client_id_reads_the_control_url_variable(
    proxy_url: str, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.client import ControlPlaneError, get_client_id

    monkeypatch.setenv("AEROVANE_CONTROL_URL", server_url)
    assert get_client_id(PROJECT, LOCATION, "aerovane")
    with pytest.raises(ControlPlaneError, match="NOT_FOUND"):
        get_client_id(PROJECT, LOCATION, "missing")


def test_make_iap_request(proxy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from aerovane.client import BadResponseError, IapPermissionError, make_iap_request
    from aerovane.identity import oauth_client_id

    text = make_iap_request(f"{proxy_url}/api/v1/health", oauth_client_id())
    assert json.loads(text)["metadatabase"]["status"] == "healthy"
    with pytest.raises(BadResponseError, match=r"Bad response from application: 404 / "):
        make_iap_request(f"{proxy_url}/api/v1/dags/nope", oauth_client_id())
    with pytest.raises(BadResponseError, match="401"):
        make_iap_request(f"{proxy_url}/api/v1/health", "some-other-client-id")
    set_config(monkeypatch, proxy__allowed_members="user:nobody@example.com")
    with pytest.raises(IapPermissionError) as refused:
        make_iap_request(f"{proxy_url}/api/v1/health", oauth_client_id())
    assert str(refused.value) == (
        "Service account does not have permission to access the IAP-protected application."
    )


def test_make_web_server_request(proxy_url: str) -> None:
    from aerovane.client import make_web_server_request

    response = make_web_server_request(f"{proxy_url}/api/v1/health")
    assert response.status_code == 200
    assert make_web_server_request(f"{proxy_url}/api/v1/dags/nope").status_code == 404


@pytest.mark.parametrize("experimental", [False, True], ids=["stable", "experimental"])
@pytest.mark.parametrize("iap", [False, True], ids=["access-token", "id-token"])
def test_trigger_dag(
    proxy_url: str, monkeypatch: pytest.MonkeyPatch, experimental: bool, iap: bool
) -> None:
    from aerovane.client import trigger_dag
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.identity import oauth_client_id

    set_config(monkeypatch, api__enable_experimental_api="True")
    add_dag("composer_sample_trigger_response_dag")
    text = trigger_dag(
        proxy_url,
        "composer_sample_trigger_response_dag",
        {"bucket": "b", "name": "object.txt"},
        client_id=oauth_client_id() if iap else None,
        use_experimental_api=experimental,
    )
    assert json.loads(text)
    with create_session(readonly=True) as session:
        runs = session.query(models.DagRun).all()
    assert [(r.dag_id, r.conf) for r in runs] == [
        ("composer_sample_trigger_response_dag", {"bucket": "b", "name": "object.txt"})
    ]


def test_trigger_dag_errors(proxy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from aerovane.client import trigger_dag

    with pytest.raises(requests.HTTPError, match="404"):
        trigger_dag(proxy_url, "no_such_dag", {})
    add_dag("guarded")
    set_config(monkeypatch, api__auth_backends="aerovane.auth.backends.deny_all")
    with pytest.raises(requests.HTTPError, match="401"):
        trigger_dag(proxy_url, "guarded", {})


@pytest.mark.parametrize("iap", [False, True], ids=["access-token", "id-token"])
def test_the_cloud_function_example(
    proxy_url: str, monkeypatch: pytest.MonkeyPatch, iap: bool
) -> None:
    import importlib.util
    from pathlib import Path

    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.identity import oauth_client_id

    path = Path(__file__).parents[2] / "examples" / "trigger_response_function.py"
    spec = importlib.util.spec_from_file_location("trigger_response_function", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    monkeypatch.setenv("AIRFLOW_WEB_SERVER_URL", proxy_url)
    if iap:
        monkeypatch.setenv("IAP_CLIENT_ID", oauth_client_id())
    add_dag("composer_sample_trigger_response_dag")
    data, context = example._event("my-bucket", "in/object.csv")
    answer = json.loads(example.trigger_dag_gcf(data, context))
    assert answer["conf"] == data
    with create_session(readonly=True) as session:
        run = session.query(models.DagRun).one()
    assert (run.dag_id, run.conf["bucket"], run.conf["name"]) == (
        "composer_sample_trigger_response_dag",
        "my-bucket",
        "in/object.csv",
    )
