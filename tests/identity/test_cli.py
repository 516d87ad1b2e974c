"""`aerovane iam service-accounts ...` and `aerovane auth ...` with click's CliRunner."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aerovane.cli import _register, cli
from aerovane.db.engine import create_session
from aerovane.identity import oauth_client_id, verify_access_token, verify_id_token
from tests.identity.conftest import add_user

EMAIL = "robot-one@aerovane.iam.gserviceaccount.com"


@pytest.fixture
def run(db: Path) -> Callable[..., Result]:
    _register()
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, **kwargs: object) -> Result:
        result = runner.invoke(cli, list(args), catch_exceptions=False, **kwargs)  # type: ignore[arg-type]
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_service_account_lifecycle(run: Callable[..., Result]) -> None:
    created = run("iam", "service-accounts", "create", "robot-one", "--display-name", "Robot")
    assert "Created service account [robot-one]." in created.output
    listed = run("iam", "service-accounts", "list").output
    assert "DISPLAY NAME" in listed and EMAIL in listed and "Robot" in listed
    client_id = run(
        "iam", "service-accounts", "describe", EMAIL, "--format=value(oauth2ClientId)"
    ).stdout.strip()
    assert len(client_id) == 21 and client_id.startswith("1")
    described = json.loads(
        run("iam", "service-accounts", "describe", EMAIL, "--format=json").stdout
    )
    assert described["uniqueId"] == client_id and described["email"] == EMAIL
    yaml = run("iam", "service-accounts", "describe", client_id).stdout
    assert f"email: {EMAIL}" in yaml and f"oauth2ClientId: '{client_id}'" in yaml

    run("iam", "service-accounts", "disable", EMAIL)
    assert (
        json.loads(run("iam", "service-accounts", "list", "--format=json").stdout)[0]["disabled"]
        is True
    )
    run("iam", "service-accounts", "enable", EMAIL)
    run("iam", "service-accounts", "delete", EMAIL, "--quiet")
    missing = run("iam", "service-accounts", "describe", EMAIL, ok=False)
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_invalid_name_and_format(run: Callable[..., Result]) -> None:
    bad = run("iam", "service-accounts", "create", "No", ok=False)
    assert bad.exit_code == 1 and "Invalid service account name" in bad.output
    run("iam", "service-accounts", "create", "robot-one")
    bad_format = run("iam", "service-accounts", "describe", EMAIL, "--format=csv", ok=False)
    assert bad_format.exit_code == 2


def test_keys(run: Callable[..., Result], tmp_path: Path) -> None:
    run("iam", "service-accounts", "create", "robot-one")
    path = tmp_path / "key.json"
    path.write_text("old")
    path.chmod(0o644)
    out = run("iam", "service-accounts", "keys", "create", str(path), "--iam-account", EMAIL)
    info = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"created key [{info['private_key_id']}]" in out.output
    assert info["private_key"] not in out.output
    listed = run("iam", "service-accounts", "keys", "list", "--iam-account", EMAIL).output
    assert info["private_key_id"] in listed
    run("iam", "service-accounts", "keys", "delete", info["private_key_id"], "--iam-account", EMAIL)
    ids = run(
        "iam", "service-accounts", "keys", "list", "--iam-account", EMAIL, "--format=value(keyId)"
    ).stdout
    assert ids.strip() == ""
    missing = run(
        "iam",
        "service-accounts",
        "keys",
        "create",
        str(tmp_path / "x.json"),
        "--iam-account",
        "ghost@aerovane.iam.gserviceaccount.com",
        ok=False,
    )
    assert missing.exit_code == 1 and not (tmp_path / "x.json").exists()


def test_add_iam_policy_binding(run: Callable[..., Result]) -> None:
    run("iam", "service-accounts", "create", "robot-one")
    out = run(
        "iam",
        "service-accounts",
        "add-iam-policy-binding",
        EMAIL,
        "--member=user:alice@example.com",
        "--role=roles/iam.serviceAccountTokenCreator",
        "--format=json",
    ).stdout
    assert json.loads(out)["bindings"] == [
        {"members": ["user:alice@example.com"], "role": "roles/iam.serviceAccountTokenCreator"}
    ]
    bad = run(
        "iam",
        "service-accounts",
        "add-iam-policy-binding",
        EMAIL,
        "--member=alice",
        "--role=roles/iam.serviceAccountTokenCreator",
        ok=False,
    )
    assert bad.exit_code == 1


# -- auth --------------------------------------------------------------------------------------


def test_login_and_print_tokens(run: Callable[..., Result], server_url: str) -> None:
    from aerovane.config import get_settings

    add_user("alice", ["Viewer"], password="alice-pw", email="alice@example.com")
    out = run("auth", "login", input="alice\nalice-pw\n")
    assert "alice-pw" not in out.output
    path = get_settings().home / "credentials" / "alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    assert record["token_uri"] == f"{server_url}/token" and record["refresh_token"]

    token = run("auth", "print-identity-token").stdout.strip()
    with create_session(readonly=True) as session:
        principal = verify_id_token(token, audience=oauth_client_id(), session=session)
    assert principal.email == "alice@example.com"
    custom = run("auth", "print-identity-token", "--audiences=https://svc").stdout.strip()
    with create_session(readonly=True) as session:
        verify_id_token(custom, audience="https://svc", session=session)
    access = run("auth", "print-access-token").stdout.strip()
    with create_session(readonly=True) as session:
        assert verify_access_token(access, session=session) == principal

    run("iam", "service-accounts", "create", "robot-one")
    denied = run("auth", "print-identity-token", f"--impersonate-service-account={EMAIL}", ok=False)
    assert denied.exit_code == 1 and "access_denied" in denied.output
    run(
        "iam",
        "service-accounts",
        "add-iam-policy-binding",
        EMAIL,
        "--member=user:alice@example.com",
        "--role=roles/iam.serviceAccountTokenCreator",
    )
    impersonated = run(
        "auth", "print-identity-token", f"--impersonate-service-account={EMAIL}"
    ).stdout.strip()
    with create_session(readonly=True) as session:
        assert (
            verify_id_token(impersonated, audience=oauth_client_id(), session=session).email
            == EMAIL
        )


def test_login_with_a_wrong_password(run: Callable[..., Result], server_url: str) -> None:
    add_user("alice", ["Viewer"], password="alice-pw", email="alice@example.com")
    result = run("auth", "login", "--username", "alice", "--password", "nope", ok=False)
    assert result.exit_code == 1
    assert "invalid_grant: Invalid username or password" in result.output
    assert "nope" not in result.output


def test_print_identity_token_with_a_key_file(
    run: Callable[..., Result],
    server_url: str,
    make_account: Callable[..., dict[str, object]],
    key_path: Callable[[dict[str, object]], Path],
) -> None:
    info = make_account("robot-one")
    path = key_path(info)
    token = run(
        "auth", "print-identity-token", env={"GOOGLE_APPLICATION_CREDENTIALS": str(path)}
    ).stdout.strip()
    with create_session(readonly=True) as session:
        assert verify_id_token(token, audience=oauth_client_id(), session=session).email == EMAIL
    access = run("auth", "print-access-token", "--key-file", str(path)).stdout.strip()
    with create_session(readonly=True) as session:
        assert verify_access_token(access, session=session).email == EMAIL


def test_not_logged_in(run: Callable[..., Result]) -> None:
    result = run(
        "auth", "print-identity-token", env={"GOOGLE_APPLICATION_CREDENTIALS": ""}, ok=False
    )
    assert result.exit_code == 1 and "not logged in" in result.output
