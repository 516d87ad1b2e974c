"""`aerovane auth login|print-identity-token|print-access-token`: tokens for people (a local
user's refresh token, kept in `$AEROVANE_HOME/credentials/<user>.json`, mode 0600) and for
service-account key files (`GOOGLE_APPLICATION_CREDENTIALS`).

Everything goes through the token endpoint over HTTP, as it would from another machine; tokens
are printed on stdout and nothing else is.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import click

ACTIVE_FILE = "active_account"
CREDENTIALS_TYPE = "aerovane_authorized_user"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.@+-]")


def _credentials_dir() -> Path:
    from aerovane.config import get_settings

    return get_settings().home / "credentials"


def _credentials_path(username: str) -> Path:
    return _credentials_dir() / f"{_SAFE_NAME.sub('_', username)}.json"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _post(token_url: str, form: dict[str, str]) -> dict[str, Any]:
    """POST a token request; a refusal becomes one clear line (never echoing the request)."""
    import httpx

    try:
        response = httpx.post(token_url, data=form, timeout=30)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the token endpoint {token_url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        if isinstance(body, dict) and "error" in body:
            raise click.ClickException(
                f"{body.get('error')}: {body.get('error_description', '')}".rstrip(": ")
            )
        raise click.ClickException(f"token endpoint answered HTTP {response.status_code}")
    return body


@click.group("auth")
def auth() -> None:
    """Log in as a local user and print tokens (like `gcloud auth`)."""


@auth.command("login")
@click.option("--username", prompt=True)
@click.option("--password", prompt=True, hide_input=True)
@click.option("--token-url", default=None, help="Default: [identity] public_url + /token.")
def login(username: str, password: str, token_url: str | None) -> None:
    """Exchange a username and password for a refresh token and store it."""
    from aerovane.identity.project import token_url as default_token_url

    url = token_url or default_token_url()
    body = _post(url, {"grant_type": "password", "username": username, "password": password})
    refresh_token = body.get("refresh_token")
    if not isinstance(refresh_token, str):
        raise click.ClickException("token endpoint returned no refresh token")
    record = {
        "type": CREDENTIALS_TYPE,
        "username": username,
        "token_uri": url,
        "refresh_token": refresh_token,
    }
    path = _credentials_path(username)
    _write_private(path, json.dumps(record, indent=2) + "\n")
    _write_private(_credentials_dir() / ACTIVE_FILE, username + "\n")
    click.echo(f"You are now logged in as [{username}]. Credentials saved to [{path}].", err=True)


def _user_credentials(account: str | None) -> dict[str, Any] | None:
    if account is None:
        active = _credentials_dir() / ACTIVE_FILE
        if not active.exists():
            return None
        account = active.read_text(encoding="utf-8").strip()
    path = _credentials_path(account)
    if not path.exists():
        raise click.ClickException(f"no credentials for [{account}]: run `aerovane auth login`")
    record = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(record, dict) or record.get("type") != CREDENTIALS_TYPE:
        raise click.ClickException(f"{path} is not an Aerovane credentials file")
    return record


def _key_file(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise click.ClickException(f"cannot read the key file {path}") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        return None
    return info


def _assertion(info: dict[str, Any], claim: dict[str, str]) -> str:
    """A JWT-bearer assertion signed with the key file's private key (as google-auth makes)."""
    import jwt

    from aerovane.identity.project import GOOGLE_TOKEN_URL

    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "aud": GOOGLE_TOKEN_URL,
        "iat": now,
        "exp": now + 3600,
        **claim,
    }
    return jwt.encode(
        claims,
        info["private_key"],
        algorithm="RS256",
        headers={"kid": info.get("private_key_id", "")},
    )


def _token(
    kind: str,
    value: str,
    *,
    account: str | None,
    impersonate: str | None,
    key_file_path: str | None,
) -> str:
    """An ID token (`kind` "audience") or access token (`kind` "scope") for the logged-in user,
    or else for the service-account key file."""
    wanted = "id_token" if kind == "audience" else "access_token"
    record = _user_credentials(account)
    if record is not None:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": record["refresh_token"],
            kind: value,
        }
        if impersonate:
            form["impersonate"] = impersonate
        body = _post(record["token_uri"], form)
    else:
        info = _key_file(key_file_path)
        if info is None:
            raise click.ClickException(
                "not logged in: run `aerovane auth login`, or set GOOGLE_APPLICATION_CREDENTIALS "
                "to a service-account key file"
            )
        if impersonate and impersonate != info.get("client_email"):
            raise click.ClickException(
                "--impersonate-service-account needs user credentials (`aerovane auth login`)"
            )
        claim = {"target_audience": value} if kind == "audience" else {"scope": value}
        body = _post(
            info["token_uri"], {"grant_type": JWT_BEARER, "assertion": _assertion(info, claim)}
        )
    token = body.get(wanted)
    if not isinstance(token, str):
        raise click.ClickException(f"token endpoint returned no {wanted}")
    return token


account_option = click.option(
    "--account", default=None, help="A logged-in user (default: the last one to log in)."
)
key_file_option = click.option(
    "--key-file",
    envvar="GOOGLE_APPLICATION_CREDENTIALS",
    default=None,
    help="Service-account key file used when no user is logged in.",
)


@auth.command("print-identity-token")
@click.option("--audiences", default=None, help="Default: the proxy's OAuth client id.")
@click.option("--impersonate-service-account", default=None)
@account_option
@key_file_option
def print_identity_token(
    audiences: str | None,
    impersonate_service_account: str | None,
    account: str | None,
    key_file: str | None,
) -> None:
    """Print an ID token (for `Authorization: Bearer` to the web server)."""
    from aerovane.identity.project import oauth_client_id

    click.echo(
        _token(
            "audience",
            audiences or oauth_client_id(),
            account=account,
            impersonate=impersonate_service_account,
            key_file_path=key_file,
        )
    )


@auth.command("print-access-token")
@click.option("--scopes", default=None, help="Comma-separated; default cloud-platform.")
@click.option("--impersonate-service-account", default=None)
@account_option
@key_file_option
def print_access_token(
    scopes: str | None,
    impersonate_service_account: str | None,
    account: str | None,
    key_file: str | None,
) -> None:
    """Print an access token."""
    from aerovane.identity.project import CLOUD_PLATFORM

    scope = " ".join(s for s in (scopes or CLOUD_PLATFORM).split(",") if s)
    click.echo(
        _token(
            "scope",
            scope,
            account=account,
            impersonate=impersonate_service_account,
            key_file_path=key_file,
        )
    )


def register(cli: click.Group) -> None:
    cli.add_command(auth)
