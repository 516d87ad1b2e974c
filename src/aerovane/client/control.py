"""`ControlPlaneClient`: Composer's environments API over HTTP, for Aerovane or Google.

It knows URLs, JSON and Google's error shape; where its access tokens come from is the caller's
business (a callable), so the `aerovane environments` commands and the library functions share
it. `google_access_token()` is the google-auth source (`GOOGLE_APPLICATION_CREDENTIALS`, the
metadata server, gcloud's application default credentials).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_CONTROL_URL = "https://composer.googleapis.com"
#: Where the library looks for the control plane when no URL is given.
CONTROL_URL_VARIABLE = "AEROVANE_CONTROL_URL"
API_VERSION = "v1"


class ControlPlaneError(Exception):
    """An error answer from the control plane, with Google's `code`, `status` and `message`."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.code = code
        self.status = status
        self.message = message


def default_control_url() -> str:
    return os.environ.get(CONTROL_URL_VARIABLE) or GOOGLE_CONTROL_URL


#: google-auth credentials per key file (None: no GOOGLE_APPLICATION_CREDENTIALS), reused so
#: tokens are refreshed only when they expire.
_credentials: dict[str | None, Any] = {}


def google_credentials() -> Any:
    import google.auth

    key = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    credentials = _credentials.get(key)
    if credentials is None:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
        _credentials[key] = credentials
    return credentials


def google_access_token() -> str:
    """A cloud-platform access token from google-auth's default credentials (refreshed)."""
    import google.auth.transport.requests

    credentials = google_credentials()
    if not credentials.valid:
        credentials.refresh(google.auth.transport.requests.Request())
    return str(credentials.token)


def environment_name(project: str, location: str, environment: str) -> str:
    return f"projects/{project}/locations/{location}/environments/{environment}"


class ControlPlaneClient:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: Callable[[], str] = google_access_token,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = (base_url or default_control_url()).rstrip("/")
        self._token = token
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlPlaneClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        url = f"{self.base_url}/{API_VERSION}/{path}"
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            response = self._http.request(method, url, params=params, json=json, headers=headers)
        except httpx.HTTPError as exc:
            message = f"cannot reach {self.base_url}: {exc}"
            raise ControlPlaneError(0, "UNAVAILABLE", message) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                raise ControlPlaneError(
                    int(error.get("code", response.status_code)),
                    str(error.get("status", "")),
                    str(error.get("message", "")),
                )
            raise ControlPlaneError(
                response.status_code, "", f"HTTP {response.status_code} from {url}"
            )
        if not isinstance(body, dict):
            raise ControlPlaneError(response.status_code, "", f"{url} did not answer JSON")
        return body

    # -- environments ----------------------------------------------------------------------------

    def get_environment(self, name: str) -> dict[str, Any]:
        return self._call("GET", name)

    def list_environments(self, parent: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"pageSize": 100}
        while True:
            body = self._call("GET", f"{parent}/environments", params=params)
            found.extend(body.get("environments", []))
            token = body.get("nextPageToken")
            if not token:
                return found
            params["pageToken"] = token

    def patch_environment(
        self, name: str, update_mask: list[str], body: dict[str, Any]
    ) -> dict[str, Any]:
        """Start an update; returns the Operation."""
        return self._call("PATCH", name, params={"updateMask": ",".join(update_mask)}, json=body)

    def get_operation(self, name: str) -> dict[str, Any]:
        return self._call("GET", name)

    def wait_operation(self, operation: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
        """Poll until the operation is done; ControlPlaneError if it failed."""
        delay, deadline = 0.1, time.monotonic() + timeout
        while not operation.get("done"):
            if time.monotonic() > deadline:
                raise ControlPlaneError(0, "DEADLINE_EXCEEDED", f"{operation['name']} not done")
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
            operation = self.get_operation(operation["name"])
        error = operation.get("error")
        if error:
            raise ControlPlaneError(
                int(error.get("code", 0)), str(error.get("status", "")), str(error.get("message"))
            )
        return operation

    # -- Airflow commands ------------------------------------------------------------------------

    def execute_airflow_command(
        self, name: str, command: str, subcommand: str, parameters: list[str]
    ) -> dict[str, Any]:
        body = {"command": command, "subcommand": subcommand, "parameters": parameters}
        return self._call("POST", f"{name}:executeAirflowCommand", json=body)

    def poll_airflow_command(
        self, name: str, execution: dict[str, Any], next_line_number: int
    ) -> dict[str, Any]:
        body = {
            "executionId": execution["executionId"],
            "pod": execution.get("pod", ""),
            "podNamespace": execution.get("podNamespace", ""),
            "nextLineNumber": next_line_number,
        }
        return self._call("POST", f"{name}:pollAirflowCommand", json=body)

    def stop_airflow_command(
        self, name: str, execution: dict[str, Any], *, force: bool = False
    ) -> dict[str, Any]:
        body = {
            "executionId": execution["executionId"],
            "pod": execution.get("pod", ""),
            "podNamespace": execution.get("podNamespace", ""),
            "force": force,
        }
        return self._call("POST", f"{name}:stopAirflowCommand", json=body)
