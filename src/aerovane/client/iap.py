"""Calling an IAP-protected web server (Composer 1's shape) with an OpenID Connect ID token.

`get_client_id` finds the OAuth client id IAP expects as the token's audience, the way Google's
sample does: the environment's `config.airflowUri`, then the `client_id` of the sign-in redirect
an unauthenticated request gets. `make_iap_request` fetches an ID token for that audience with
google-auth (a service-account key file in `GOOGLE_APPLICATION_CREDENTIALS`, or the metadata
server) and sends it as `Authorization: Bearer`.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import requests

from aerovane.client.control import ControlPlaneClient, environment_name

DEFAULT_TIMEOUT = 90
PERMISSION_MESSAGE = (
    "Service account does not have permission to access the IAP-protected application."
)


class IapPermissionError(Exception):
    """The token was good but its principal may not use the application (403)."""


class BadResponseError(Exception):
    """Any other answer than 200."""


def get_client_id(
    project_id: str, location: str, environment: str, *, control_url: str | None = None
) -> str:
    """The OAuth client id of the environment's web server (the audience of its ID tokens)."""
    with ControlPlaneClient(control_url) as control:
        data = control.get_environment(environment_name(project_id, location, environment))
    image = data.get("config", {}).get("softwareConfig", {}).get("imageVersion", "")
    if image.startswith(("composer-2", "composer-3")):
        raise RuntimeError(
            "This works with Composer 1 environments and Aerovane: in Composer 2 and 3 the "
            "Airflow web server is not behind IAP, so there is no client id. Use "
            "make_web_server_request instead."
        )
    airflow_uri = data["config"]["airflowUri"]
    redirect = requests.get(airflow_uri, allow_redirects=False, timeout=DEFAULT_TIMEOUT)
    location_header = redirect.headers.get("location")
    if not location_header:
        raise BadResponseError(
            f"{airflow_uri} answered {redirect.status_code} without a sign-in redirect"
        )
    query = urllib.parse.parse_qs(urllib.parse.urlparse(location_header).query)
    try:
        return query["client_id"][0]
    except (KeyError, IndexError):
        message = f"the sign-in redirect of {airflow_uri} names no client_id"
        raise BadResponseError(message) from None


def make_iap_request(url: str, client_id: str, method: str = "GET", **kwargs: Any) -> str:
    """Send `method url` with an ID token for `client_id`; the response text on 200."""
    from google.auth.transport.requests import Request
    from google.oauth2 import id_token

    timeout = kwargs.pop("timeout", DEFAULT_TIMEOUT)
    token = id_token.fetch_id_token(Request(), client_id)
    headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
    response = requests.request(method, url, headers=headers, timeout=timeout, **kwargs)
    if response.status_code == 403:
        raise IapPermissionError(PERMISSION_MESSAGE)
    if response.status_code != 200:
        raise BadResponseError(
            f"Bad response from application: {response.status_code!r} / "
            f"{response.headers!r} / {response.text!r}"
        )
    return response.text
