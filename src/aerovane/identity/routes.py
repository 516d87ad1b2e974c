"""HTTP face of the token service: `POST /token`, OIDC discovery, the certificate and key URLs
google-auth and IAP verifiers read, service-account public keys, and the metadata server.

Handlers parse, call `grants`/`keys`, and render; the API app includes `router` at its root.
Bodies are bounded before they are parsed, and token responses are never cached.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.identity import keys, project
from aerovane.identity.grants import GRANT_TYPES, OAuthError, token_response
from aerovane.identity.metadata import build_metadata_router
from aerovane.identity.service_accounts import find_service_account

MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 32
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PUBLIC_KEYS_CACHE = {"Cache-Control": "public, max-age=300"}


def _oauth_error(exc: OAuthError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers={**_NO_STORE, **exc.headers})


async def _read_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "Expected application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise OAuthError("invalid_request", "Request body too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise OAuthError("invalid_request", "Request body too large")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "Malformed request body") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError("invalid_request", f"Duplicate parameter: {name}")
        form[name] = value
    return form


def _grant(form: dict[str, str], client_address: str | None) -> dict[str, Any]:
    with create_session(readonly=True) as session:
        return token_response(form, session=session, client_address=client_address)


def _published(purpose: str) -> list[keys.PublishedKey]:
    """Published keys of `purpose`, making sure a current one exists first."""
    with create_session(readonly=True) as session:
        keys.signing_key(purpose, session=session)
    with create_session(readonly=True) as session:
        return keys.published_keys(purpose, session=session)


def _pem_map(purpose: str) -> dict[str, str]:
    return {key.kid: key.public_key_pem for key in _published(purpose)}


def _jwks(purpose: str) -> dict[str, Any]:
    return {"keys": [keys.jwk(key) for key in _published(purpose)]}


def _account_keys(email: str) -> dict[str, str] | None:
    with create_session(readonly=True) as session:
        account = find_service_account(email, session=session)
        if account is None or account.disabled:
            return None
        rows: list[models.ServiceAccountKey] = list(account.keys)
        return {row.key_id: row.public_key_pem for row in rows if not row.disabled}


def _json(body: Any, headers: dict[str, str]) -> Response:
    return Response(json.dumps(body), media_type="application/json", headers=headers)


def build_router() -> APIRouter:
    """All identity routes, metadata server included (for the API app or any other app)."""
    router = APIRouter(include_in_schema=False)

    @router.post("/token")
    async def post_token(request: Request) -> Response:
        try:
            form = await _read_form(request)
            client = request.client.host if request.client else None
            body = await run_in_threadpool(_grant, form, client)
        except OAuthError as exc:
            return _oauth_error(exc)
        return JSONResponse(body, headers=_NO_STORE)

    @router.get("/.well-known/openid-configuration")
    async def get_openid_configuration() -> Response:
        base = project.public_url()
        return _json(
            {
                "issuer": project.issuer(),
                "token_endpoint": project.token_url(),
                "jwks_uri": f"{base}/oauth2/v3/certs",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [keys.ALGORITHMS[keys.TOKEN]],
                "grant_types_supported": list(GRANT_TYPES),
                "scopes_supported": ["openid", "email", project.CLOUD_PLATFORM],
                "token_endpoint_auth_methods_supported": ["none"],
                "claims_supported": [
                    "aud",
                    "azp",
                    "email",
                    "email_verified",
                    "exp",
                    "iat",
                    "iss",
                    "sub",
                ],
            },
            _PUBLIC_KEYS_CACHE,
        )

    @router.get("/oauth2/v3/certs")
    async def get_jwks() -> Response:
        return _json(await run_in_threadpool(_jwks, keys.TOKEN), _PUBLIC_KEYS_CACHE)

    @router.get("/oauth2/v1/certs")
    async def get_pem_certs() -> Response:
        return _json(await run_in_threadpool(_pem_map, keys.TOKEN), _PUBLIC_KEYS_CACHE)

    @router.get("/iap/verify/public_key")
    async def get_iap_public_keys() -> Response:
        return _json(await run_in_threadpool(_pem_map, keys.IAP), _PUBLIC_KEYS_CACHE)

    @router.get("/iap/verify/public_key-jwk")
    async def get_iap_jwks() -> Response:
        return _json(await run_in_threadpool(_jwks, keys.IAP), _PUBLIC_KEYS_CACHE)

    @router.get("/service_accounts/v1/metadata/x509/{email}")
    async def get_service_account_keys(email: str) -> Response:
        found = await run_in_threadpool(_account_keys, email)
        if found is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return _json(found, _PUBLIC_KEYS_CACHE)

    router.include_router(build_metadata_router())
    return router


router = build_router()
