"""A GCE-style metadata server for workloads inside the environment (tasks, functions), so
google-auth's metadata credentials (`GCE_METADATA_HOST`) get tokens for the environment's
default service account.

Whoever reaches it gets tokens, so it answers only peers on loopback, only requests carrying
`Metadata-Flavor: Google`, and (as Google's does) never a request bearing `X-Forwarded-For` or
`Forwarded`, which is how a request relayed by a proxy on this host shows itself. Every answer
carries `Metadata-Flavor: Google`. Its root (`/`, google-auth's ping) is matched only by requests
carrying `Metadata-Flavor`; a browser's `/` is the web UI. The default account is created on
first use.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import Scope

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.identity import project, tokens
from aerovane.identity.principals import Principal, principal_for_service_account
from aerovane.identity.service_accounts import (
    DEFAULT_ACCOUNT_ID,
    ensure_default_service_account,
    find_service_account,
    service_account_email,
)

PREFIX = "/computeMetadata/v1"
FLAVOR = {"Metadata-Flavor": "Google"}
DEFAULT_SCOPES = (project.CLOUD_PLATFORM,)
_FORWARDING_HEADERS = ("x-forwarded-for", "forwarded")
_FLAVOR_HEADER = b"metadata-flavor"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/text", headers=FLAVOR)


def _json(body: Any) -> Response:
    return Response(json.dumps(body), media_type="application/json", headers=FLAVOR)


def _refusal(request: Request) -> Response | None:
    """403 unless a local, unrelayed request with the flavor header; None when allowed."""
    client = request.client
    if not _is_loopback(client.host if client else None):
        return _text("Metadata is only served to local workloads.\n", 403)
    if any(name in request.headers for name in _FORWARDING_HEADERS):
        return _text("Request with forwarding headers are not allowed.\n", 403)
    if request.headers.get("metadata-flavor", "").lower() != "google":
        return _text("Missing Metadata-Flavor:Google header.\n", 403)
    return None


def _default_principal() -> Principal | None:
    """The default account (created on first use); None if it is disabled."""
    email = service_account_email(DEFAULT_ACCOUNT_ID)
    with create_session(readonly=True) as session:
        account: models.ServiceAccount | None = find_service_account(email, session=session)
    if account is None:
        with create_session() as session:
            account = ensure_default_service_account(session=session)
    return None if account.disabled else principal_for_service_account(account)


def _mint_id_token(principal: Principal, audience: str) -> str:
    with create_session(readonly=True) as session:
        return tokens.mint_id_token(principal, audience, session=session)


def _mint_access_token(principal: Principal, scopes: list[str]) -> tuple[str, int]:
    with create_session(readonly=True) as session:
        return tokens.mint_access_token(principal, scopes, session=session)


async def _account(account: str) -> Principal | Response:
    principal = await run_in_threadpool(_default_principal)
    if principal is None:
        return _text("The default service account is disabled.\n", 403)
    if account not in ("default", principal.email):
        return _text("Not Found\n", 404)
    return principal


class _MetadataClientRoute(APIRoute):
    """The root is the metadata server's ping only for metadata clients (which always send
    `Metadata-Flavor`, as google-auth's ping does); for anyone else `/` is the web UI's."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        headers = scope.get("headers", ())
        if scope["type"] == "http" and not any(name == _FLAVOR_HEADER for name, _ in headers):
            return Match.NONE, {}
        return super().matches(scope)


def build_metadata_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def ping(request: Request) -> Response:
        return _refusal(request) or _text("computeMetadata/\n")

    router.add_api_route("/", ping, methods=["GET"], route_class_override=_MetadataClientRoute)

    @router.get(PREFIX + "/project/project-id")
    async def get_project_id(request: Request) -> Response:
        return _refusal(request) or _text(project.project_id())

    @router.get(PREFIX + "/project/numeric-project-id")
    async def get_numeric_project_id(request: Request) -> Response:
        return _refusal(request) or _text(project.project_number())

    @router.get(PREFIX + "/instance/service-accounts/")
    async def list_accounts(request: Request) -> Response:
        if (refused := _refusal(request)) is not None:
            return refused
        found = await _account("default")
        if isinstance(found, Response):
            return found
        if request.query_params.get("recursive", "").lower() == "true":
            return _json({"default": _describe(found), found.email: _describe(found)})
        return _text(f"default/\n{found.email}/\n")

    @router.get(PREFIX + "/instance/service-accounts/{account}")
    @router.get(PREFIX + "/instance/service-accounts/{account}/")
    async def get_account(request: Request, account: str) -> Response:
        if (refused := _refusal(request)) is not None:
            return refused
        found = await _account(account)
        if isinstance(found, Response):
            return found
        if request.query_params.get("recursive", "").lower() == "true":
            return _json(_describe(found))
        return _text("aliases\nemail\nidentity\nscopes\ntoken\n")

    @router.get(PREFIX + "/instance/service-accounts/{account}/email")
    async def get_email(request: Request, account: str) -> Response:
        if (refused := _refusal(request)) is not None:
            return refused
        found = await _account(account)
        return found if isinstance(found, Response) else _text(found.email)

    @router.get(PREFIX + "/instance/service-accounts/{account}/aliases")
    async def get_aliases(request: Request, account: str) -> Response:
        if (refused := _refusal(request)) is not None:
            return refused
        found = await _account(account)
        return found if isinstance(found, Response) else _text("default\n")

    @router.get(PREFIX + "/instance/service-accounts/{account}/scopes")
    async def get_scopes(request: Request, account: str) -> Response:
        if (refused := _refusal(request)) is not None:
            return refused
        found = await _account(account)
        return found if isinstance(found, Response) else _text("\n".join(DEFAULT_SCOPES) + "\n")

    @router.get(PREFIX + "/instance/service-accounts/{account}/identity")
    async def get_identity(request: Request, account: str) -> Response:
        if (refused := _refusal(request)) is not None:
            return refused
        audience = request.query_params.get("audience", "")
        if not audience:
            return _text("non-empty audience parameter required\n", 400)
        if len(audience) > 1024 or not audience.isprintable():
            return _text("invalid audience parameter\n", 400)
        found = await _account(account)
        if isinstance(found, Response):
            return found
        return _text(await run_in_threadpool(_mint_id_token, found, audience))

    @router.get(PREFIX + "/instance/service-accounts/{account}/token")
    async def get_token(request: Request, account: str) -> Response:
        if (refused := _refusal(request)) is not None:
            return refused
        raw = request.query_params.get("scopes", "")
        scopes = [s for s in raw.replace(" ", ",").split(",") if s] or list(DEFAULT_SCOPES)
        if len(raw) > 2048 or any(not s.isprintable() for s in scopes):
            return _text("invalid scopes parameter\n", 400)
        found = await _account(account)
        if isinstance(found, Response):
            return found
        token, expires_in = await run_in_threadpool(_mint_access_token, found, scopes)
        return _json({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})

    return router


def _describe(principal: Principal) -> dict[str, Any]:
    return {"aliases": ["default"], "email": principal.email, "scopes": list(DEFAULT_SCOPES)}
