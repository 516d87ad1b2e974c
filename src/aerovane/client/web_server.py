"""Calling the Airflow web server with an OAuth access token (Composer 2 and 3's shape), and
triggering a DAG through either the stable or the experimental REST API.

`make_web_server_request` uses google-auth's default credentials with the cloud-platform scope
and an `AuthorizedSession`, which refreshes the token and retries once on a 401.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests

from aerovane.client.control import google_credentials
from aerovane.client.iap import DEFAULT_TIMEOUT, make_iap_request

RBAC_MESSAGE = (
    "You do not have a permission to perform this operation. Check Airflow RBAC roles for your "
    "account."
)


def _authorized_session() -> Any:
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(google_credentials())


def make_web_server_request(url: str, method: str = "GET", **kwargs: Any) -> requests.Response:
    """Send `method url` with an access token; returns the response, whatever its status."""
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    return _authorized_session().request(method, url, **kwargs)


def dag_runs_url(web_server_url: str, dag_id: str, *, use_experimental_api: bool) -> str:
    quoted = urllib.parse.quote(dag_id, safe="")
    if use_experimental_api:
        return f"{web_server_url.rstrip('/')}/api/experimental/dags/{quoted}/dag_runs"
    return f"{web_server_url.rstrip('/')}/api/v1/dags/{quoted}/dagRuns"


def trigger_dag(
    web_server_url: str,
    dag_id: str,
    data: Any,
    *,
    client_id: str | None = None,
    use_experimental_api: bool = False,
) -> str:
    """Trigger `dag_id` with `data` as its conf; the response text.

    With `client_id` the request carries an ID token for it (an IAP-protected web server),
    otherwise an access token.
    """
    url = dag_runs_url(web_server_url, dag_id, use_experimental_api=use_experimental_api)
    body: dict[str, Any] = {"conf": data}
    if use_experimental_api:
        body["replace_microseconds"] = "false"
    if client_id is not None:
        return make_iap_request(url, client_id, method="POST", json=body)
    response = make_web_server_request(url, method="POST", json=body)
    if response.status_code == 403:
        raise requests.HTTPError(f"{RBAC_MESSAGE} {response.headers} / {response.text}")
    if response.status_code != 200:
        response.raise_for_status()
        raise requests.HTTPError(f"HTTP {response.status_code}: {response.text}")
    return response.text
