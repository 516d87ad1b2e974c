"""The environment control plane's documented path, walked as a user walks it (README, "A tour
through the proxy", and docs/recipes.md) on a fresh `aerovane standalone`:

1. find the OAuth client id with the README's curl/grep recipe, and with `get_client_id`;
2. create a service account whose email is 70 characters long, and a key file;
3. pre-register it for the REST API with `aerovane environments run ... users create` as
   Composer's docs say (username `accounts.google.com:<numeric id>`, role Op);
4. trigger the trigger-response sample through the proxy with `make_iap_request` (an ID token
   from unmodified google-auth) via `/api/v1`, and via `/api/experimental` once
   `environments update` enabled it;
5. switch `[api] auth_backends` to deny_all with `environments update` and be refused;
6. restrict the web server's IP ranges to a range without this host and be refused (403), then
   let this host in again.

Commands run as subprocesses with the standalone's own environment; the administrator uses the
CLI as the logged-in `admin` (`aerovane auth login`), the service account only its key file.
Changes are live: each is seen within a few seconds, with no restart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.standalone_server import standalone_env, start, stop, wait_healthy

pytestmark = pytest.mark.embedded_sqlite

#: 16 characters: with a 29-character account id the email is exactly 70 characters long,
#: more than the 64 Airflow's user table used to allow (Composer's pre-registration case).
PROJECT = "aerovane-e2e-70x"
ACCOUNT = "trigger-response-sample-robot"
EMAIL = f"{ACCOUNT}@{PROJECT}.iam.gserviceaccount.com"
LOCATION = "local"
ENVIRONMENT = "aerovane"
DAG_ID = "composer_sample_trigger_response_dag"
#: The README's recipe, verbatim but for the port.
CLIENT_ID_RECIPE = (
    r'curl -v {url} 2>&1 >/dev/null | grep -o "client_id\=[A-Za-z0-9-]*\.apps\.'
    r'googleusercontent\.com"'
)
#: Variables that would make the CLI or google-auth use other credentials than intended.
CREDENTIAL_VARIABLES = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCE_METADATA_HOST",
    "AEROVANE_CONTROL_URL",
)
LIVE_WITHIN = 5.0

T = TypeVar("T")


def eventually(check: Callable[[], T], within: float = LIVE_WITHIN) -> T:
    """`check()`'s value once it stops raising; its last error after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return check()
        except (Exception, pytest.fail.Exception):  # (pytest.raises' failure is no Exception)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _aerovane_command() -> list[str]:
    """The `aerovane` a user types: this venv's console script."""
    script = Path(sys.executable).with_name("aerovane")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aerovane"]


class Walk:
    """The running standalone and the commands a user runs against it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        project = {"AEROVANE__IDENTITY__PROJECT_ID": PROJECT}
        self.proc, self.port, self.api_port = start(home, **project)
        self.env = standalone_env(home, self.port, self.api_port, **project)
        self.public = f"http://localhost:{self.port}"  # the web server, behind the proxy
        self.api = f"http://127.0.0.1:{self.api_port}"  # the API server (and control plane)
        self.password = ""

    def aerovane(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*_aerovane_command(), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        return done

    def update(self, *flags: str) -> None:
        updated = self.aerovane(
            "environments", "update", ENVIRONMENT, "--location", LOCATION, *flags
        )
        assert "Updated environment [projects/" in updated.stderr

    def curl_client_id(self) -> subprocess.CompletedProcess[str]:
        recipe = CLIENT_ID_RECIPE.format(url=self.public)
        return subprocess.run(
            ["bash", "-c", recipe], capture_output=True, text=True, timeout=30, check=False
        )

    def admin_get(self, path: str, **params: Any) -> Any:
        """The API server's own port with basic auth, as local scripts use it."""
        response = httpx.get(
            f"{self.api}/api/v1{path}", params=params, auth=("admin", self.password), timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()


def _run_url(public: str, run_id: str) -> str:
    return f"{public}/api/v1/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}"


def test_documented_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.transport.requests import Request
    from google.oauth2 import id_token

    from aerovane.client import (
        BadResponseError,
        IapPermissionError,
        get_client_id,
        make_iap_request,
    )

    for name in CREDENTIAL_VARIABLES:  # the standalone and the CLI inherit os.environ
        monkeypatch.delenv(name, raising=False)
    walk = Walk(tmp_path / "home")
    try:
        walk.password = wait_healthy(f"{walk.api}/api/v1", walk.home)

        # -- the client id, by the README's recipe --------------------------------------------
        found = walk.curl_client_id()
        assert found.returncode == 0, found
        assert found.stdout.startswith("client_id=")
        client_id = found.stdout.strip().removeprefix("client_id=")
        assert client_id.endswith(".apps.googleusercontent.com")

        # -- a service account with a 70-character email, and its key -------------------------
        assert len(EMAIL) == 70
        walk.aerovane("iam", "service-accounts", "create", ACCOUNT, "--display-name", "trigger")
        key_file = walk.home.parent / "trigger-robot.json"
        walk.aerovane(
            "iam", "service-accounts", "keys", "create", str(key_file), "--iam-account", EMAIL
        )
        numeric_id = walk.aerovane(
            "iam", "service-accounts", "describe", EMAIL, "--format=value(oauth2ClientId)"
        ).stdout.strip()
        assert numeric_id.isdigit(), numeric_id
        assert json.loads(key_file.read_text())["token_uri"] == f"{walk.public}/token"
        walk.aerovane(
            "projects", "add-iam-policy-binding", PROJECT,
            "--member", f"serviceAccount:{EMAIL}", "--role", "roles/composer.user",
        )  # fmt: skip
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))

        # get_client_id asks the control plane for the web server's URL, then reads the same
        # sign-in redirect the recipe reads.
        assert get_client_id(PROJECT, LOCATION, ENVIRONMENT, control_url=walk.api) == client_id

        # -- pre-register it as Composer's docs say ------------------------------------------
        run_words = ["environments", "run", ENVIRONMENT, "--location", LOCATION]
        refused = walk.aerovane(*run_words, "version", code=1)  # nobody is logged in yet
        assert "aerovane auth login" in refused.stderr
        walk.aerovane("auth", "login", "--username", "admin", "--password", walk.password)
        created = walk.aerovane(
            *run_words, "users", "create", "--",
            "-u", f"accounts.google.com:{numeric_id}", "-e", EMAIL, "-f", numeric_id, "-l", "-",
            "-r", "Op", "--use-random-password",
        )  # fmt: skip
        assert created.stdout == f"User accounts.google.com:{numeric_id} created with role Op\n"
        assert "Command exit code: 0" in created.stderr

        # -- trigger through the proxy with an ID token: the stable API ----------------------
        conf = {"bucket": "my-bucket", "name": "incoming/data.csv"}
        run = json.loads(
            make_iap_request(
                f"{walk.public}/api/v1/dags/{DAG_ID}/dagRuns",
                client_id,
                method="POST",
                json={"conf": conf},
            )
        )
        assert run["conf"] == conf and run["external_trigger"] is True

        def succeeded(run_id: str) -> None:
            state = json.loads(make_iap_request(_run_url(walk.public, run_id), client_id))["state"]
            assert state == "success", state

        eventually(lambda: succeeded(run["dag_run_id"]), within=30)
        log = make_iap_request(
            f"{_run_url(walk.public, run['dag_run_id'])}/taskInstances/print_gcs_info/logs/1",
            client_id,
            headers={"Accept": "text/plain"},
        )
        assert "{bucket: my-bucket, name: incoming/data.csv}" in log

        # The pre-registered user acted, with role Op; nobody new was registered.
        sub = f"accounts.google.com:{numeric_id}"
        user = walk.admin_get(f"/users/{sub}")
        assert (user["email"], [r["name"] for r in user["roles"]]) == (EMAIL, ["Op"])
        assert walk.admin_get("/users")["total_entries"] == 2  # admin and the robot
        events = walk.admin_get("/eventLogs", event="api.post_dag_run", dag_id=DAG_ID)
        assert [e["owner"] for e in events["event_logs"]] == [sub]

        # -- the experimental API, enabled live ----------------------------------------------
        experimental = f"{walk.public}/api/experimental/dags/{DAG_ID}/dag_runs"
        body = {"conf": {"bucket": "b2"}, "replace_microseconds": "false"}
        with pytest.raises(BadResponseError, match="404"):  # off by default
            make_iap_request(experimental, client_id, method="POST", json=body)
        walk.update("--update-airflow-configs=api-enable_experimental_api=True")
        created_run = json.loads(
            eventually(lambda: make_iap_request(experimental, client_id, method="POST", json=body))
        )
        assert created_run["message"].startswith("Created <DagRun")
        eventually(lambda: succeeded(created_run["run_id"]), within=30)

        # -- deny_all: the REST API refuses everyone ------------------------------------------
        walk.update("--update-airflow-configs=api-auth_backends=airflow.api.auth.backend.deny_all")
        dags = f"{walk.public}/api/v1/dags"

        def refused_by_stable_api() -> None:
            # Airflow 2's stable API answers 401 for any backend's refusal, deny_all's too.
            with pytest.raises(BadResponseError, match="401"):
                make_iap_request(dags, client_id)

        eventually(refused_by_stable_api)
        # The experimental API passes deny_all's own 403 on: the client's permission error.
        with pytest.raises(IapPermissionError, match="does not have permission"):
            make_iap_request(experimental, client_id, method="POST", json=body)
        walk.update("--remove-airflow-configs=api-auth_backends")
        assert DAG_ID in eventually(lambda: make_iap_request(dags, client_id))

        # -- the web server's IP allow-list ----------------------------------------------------
        token = id_token.fetch_id_token(Request(), client_id)  # fetched while still allowed
        walk.update("--update-web-server-allow-ip", "ip_range=192.0.2.0/24,description=elsewhere")

        def outside() -> None:
            response = httpx.get(dags, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert response.status_code == 403, response.text
            assert "your network address is not allowed" in response.text

        eventually(outside)
        assert walk.curl_client_id().stdout == ""  # no sign-in redirect from outside either
        # The token service answers from anywhere (as Google's does); the web server refuses.
        with pytest.raises(IapPermissionError, match=r"403|permission"):
            make_iap_request(dags, client_id)
        ranges = walk.aerovane(
            "environments", "describe", ENVIRONMENT, "--location", LOCATION, "--format=json"
        )
        network = json.loads(ranges.stdout)["config"]["webServerNetworkAccessControl"]
        assert network == {
            "allowedIpRanges": [{"value": "192.0.2.0/24", "description": "elsewhere"}]
        }

        walk.update("--update-web-server-allow-ip", "ip_range=127.0.0.1/32,description=this host")
        assert DAG_ID in eventually(lambda: make_iap_request(dags, client_id))
        walk.update("--web-server-allow-all")

        def recipe_works_again() -> None:
            assert walk.curl_client_id().stdout == f"client_id={client_id}\n"

        eventually(recipe_works_again)
    finally:
        out = stop(walk.proc)
    assert "Aerovane stopped." in out
