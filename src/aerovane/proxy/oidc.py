"""An upstream OpenID Connect provider for people (`[proxy] oidc_issuer`, `oidc_client_id`,
`oidc_client_secret`): the authorization-code flow with discovery.

The provider's metadata comes from `<issuer>/.well-known/openid-configuration` and its keys from
its `jwks_uri` (both cached; the keys are fetched again once when a token names an unknown
`kid`, which is how providers rotate). The ID token is checked like any other: an asymmetric
algorithm the key allows, the signature, `iss`, `aud` (and `azp` when there are several
audiences), `exp`/`iat` with a minute of skew, the `nonce` bound to the browser's sign-in, and an
email the provider says it verified. This module returns claims; who they may be is the login
page's business.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt

if TYPE_CHECKING:
    import httpx

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
METADATA_TTL = 3600.0
CLOCK_SKEW = 60


class OidcError(Exception):
    """The sign-in with the provider failed; the message is safe to show (no tokens in it)."""


def _unreachable(exc: Exception) -> str:
    return f"the identity provider is unreachable ({type(exc).__name__})"


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    token_auth_methods: tuple[str, ...]


class OidcProvider:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        import httpx  # only an installation that signs people in with OIDC needs it

        self._http = http or httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._jwks: jwt.PyJWKSet | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get_json(self, url: str) -> dict[str, Any]:
        import httpx

        try:
            response = await self._http.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            raise OidcError(
                f"the identity provider is unreachable ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise OidcError(f"the identity provider answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise OidcError("the identity provider sent malformed JSON") from None
        if not isinstance(body, dict):
            raise OidcError("the identity provider sent malformed JSON")
        return body

    async def metadata(self) -> ProviderMetadata:
        cached = self._metadata
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        body = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        try:
            metadata = ProviderMetadata(
                issuer=str(body["issuer"]),
                authorization_endpoint=str(body["authorization_endpoint"]),
                token_endpoint=str(body["token_endpoint"]),
                jwks_uri=str(body["jwks_uri"]),
                token_auth_methods=tuple(
                    body.get("token_endpoint_auth_methods_supported") or ("client_secret_basic",)
                ),
            )
        except KeyError as exc:
            raise OidcError(f"the provider's discovery document lacks {exc.args[0]}") from None
        if metadata.issuer.rstrip("/") != self.issuer:
            raise OidcError("the provider's discovery document names another issuer")
        self._metadata = (time.monotonic() + METADATA_TTL, metadata)
        return metadata

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str) -> str:
        metadata = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return f"{metadata.authorization_endpoint}{separator}{query}"

    async def exchange_code(self, code: str, *, redirect_uri: str, nonce: str) -> dict[str, Any]:
        """The verified claims of the ID token the provider issues for `code`."""
        import httpx

        metadata = await self.metadata()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        auth: httpx.BasicAuth | None = None
        if "client_secret_basic" in metadata.token_auth_methods:
            auth = httpx.BasicAuth(self.client_id, self._client_secret)
        else:
            form.update(client_id=self.client_id, client_secret=self._client_secret)
        try:
            response = await self._http.post(
                metadata.token_endpoint,
                data=form,
                auth=auth,
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise OidcError(
                f"the identity provider is unreachable ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            raise OidcError(f"the identity provider refused the sign-in ({response.status_code})")
        try:
            id_token = response.json()["id_token"]
        except (ValueError, KeyError, TypeError):
            raise OidcError("the identity provider sent no ID token") from None
        if not isinstance(id_token, str):
            raise OidcError("the identity provider sent no ID token")
        return await self.verify_id_token(id_token, metadata=metadata, nonce=nonce)

    async def _signing_key(self, kid: str | None, jwks_uri: str) -> jwt.PyJWK:
        for refresh in (False, True):
            async with self._lock:
                if self._jwks is None or refresh:
                    body = await self._get_json(jwks_uri)
                    try:
                        self._jwks = jwt.PyJWKSet.from_dict(body)
                    except jwt.PyJWTError:
                        raise OidcError("the provider's key set is malformed") from None
                keys = [k for k in self._jwks.keys if k.public_key_use in (None, "sig")]
            if kid is None and len(keys) == 1:
                return keys[0]
            for key in keys:
                if key.key_id == kid:
                    return key
        raise OidcError("the ID token was signed with an unknown key")

    async def verify_id_token(
        self, token: str, *, metadata: ProviderMetadata, nonce: str
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise OidcError("the ID token is malformed") from None
        alg = header.get("alg")
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise OidcError("the ID token uses a refused algorithm")
        kid = header.get("kid")
        key = await self._signing_key(kid if isinstance(kid, str) else None, metadata.jwks_uri)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.client_id,
                issuer=metadata.issuer,
                leeway=CLOCK_SKEW,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise OidcError("the ID token has expired") from None
        except jwt.InvalidSignatureError:
            raise OidcError("the ID token's signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token was refused ({type(exc).__name__})") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("the ID token was issued to another client")
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise OidcError("the ID token does not belong to this sign-in")
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise OidcError("the identity provider did not share an email address")
        if claims.get("email_verified", True) not in (True, "true"):
            raise OidcError("the identity provider has not verified this email address")
        return claims
