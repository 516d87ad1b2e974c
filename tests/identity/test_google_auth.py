"""The unmodified google-auth library against a running Aerovane: key files, ADC, metadata
server and certificate URLs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google.auth
import google.auth.transport.requests
import pytest
from google.oauth2 import id_token

from aerovane.db.engine import create_session
from aerovane.identity import (
    CLOUD_PLATFORM,
    oauth_client_id,
    verify_access_token,
    verify_id_token,
)


@pytest.fixture
def key_file_env(
    server_url: str,
    make_account: Callable[..., dict[str, Any]],
    key_path: Callable[[dict[str, Any]], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    info = make_account("robot-one")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_path(info)))
    for name in ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return info


def test_fetch_id_token_with_key_file(key_file_env: dict[str, Any], server_url: str) -> None:
    request = google.auth.transport.requests.Request()
    token = id_token.fetch_id_token(request, oauth_client_id())

    claims = id_token.verify_token(
        token, request, audience=oauth_client_id(), certs_url=f"{server_url}/oauth2/v1/certs"
    )
    assert claims["email"] == key_file_env["client_email"]
    assert claims["sub"] == claims["azp"] == key_file_env["client_id"]
    assert claims["iss"] == server_url
    assert claims["email_verified"] is True
    jwks_claims = id_token.verify_token(
        token, request, audience=oauth_client_id(), certs_url=f"{server_url}/oauth2/v3/certs"
    )
    assert jwks_claims == claims
    with create_session(readonly=True) as session:
        principal = verify_id_token(token, audience=oauth_client_id(), session=session)
    assert principal.kind == "serviceAccount"
    assert principal.unique_id == key_file_env["client_id"]


def test_default_credentials_access_token(key_file_env: dict[str, Any]) -> None:
    credentials, project_id = google.auth.default(scopes=[CLOUD_PLATFORM])
    assert project_id == key_file_env["project_id"]
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.valid
    with create_session(readonly=True) as session:
        principal = verify_access_token(credentials.token, session=session)
    assert principal.email == key_file_env["client_email"]


_METADATA_SCRIPT = """
import json, sys
import google.auth, google.auth.transport.requests
from google.oauth2 import id_token
request = google.auth.transport.requests.Request()
token = id_token.fetch_id_token(request, sys.argv[1])
credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
credentials.refresh(request)
print(json.dumps({"id_token": token, "access_token": credentials.token,
                  "email": credentials.service_account_email}))
"""


def test_metadata_server_in_a_subprocess(server_url: str, tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_IP")
    }
    env["GCE_METADATA_HOST"] = env["GCE_METADATA_IP"] = server_url.removeprefix("http://")
    env["CLOUDSDK_CONFIG"] = str(tmp_path / "no-gcloud")
    result = subprocess.run(
        [sys.executable, "-c", _METADATA_SCRIPT, oauth_client_id()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    with create_session(readonly=True) as session:
        by_id = verify_id_token(out["id_token"], audience=oauth_client_id(), session=session)
        by_access = verify_access_token(out["access_token"], session=session)
    assert by_id == by_access
    assert by_id.email.startswith("aerovane-default@")
    assert out["email"] == by_id.email


_TASK_DAG = """
import datetime, os
from aerovane.authoring import DAG, task
with DAG("metadata_env", schedule=None, start_date=datetime.datetime(2024, 1, 1)):
    @task
    def show():
        print("GCE_METADATA_HOST=" + os.environ.get("GCE_METADATA_HOST", "unset"))
        print("GCE_METADATA_IP=" + os.environ.get("GCE_METADATA_IP", "unset"))
    show()
"""


def test_tasks_are_pointed_at_the_metadata_server(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from aerovane.cli import _register, cli
    from aerovane.config import get_settings
    from aerovane.identity.project import metadata_host

    for name in ("GCE_METADATA_HOST", "GCE_METADATA_IP"):
        monkeypatch.delenv(name, raising=False)
    _register()
    (get_settings().dags_folder / "metadata_env.py").write_text(_TASK_DAG)
    result = CliRunner().invoke(cli, ["dags", "test", "metadata_env"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"GCE_METADATA_HOST={metadata_host()}" in result.output
    assert f"GCE_METADATA_IP={metadata_host()}" in result.output
    # ... for the tasks only: the caller's environment is left as it was (a leaked value sent
    # later google-auth users in this process to a server that was gone).
    assert "GCE_METADATA_HOST" not in os.environ and "GCE_METADATA_IP" not in os.environ
