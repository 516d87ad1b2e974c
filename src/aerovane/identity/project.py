"""Names and URLs of this environment as Google would spell them: project id and number, the
OAuth client id the proxy expects as an ID-token audience, the IAP audience, the token URL and
the issuer.

Everything is read from settings on each call (live changes apply); derived values are derived
deterministically from `[webserver] secret_key` so every process and restart agrees. This module
holds no keys and touches no database.
"""

from __future__ import annotations

import hashlib
import hmac

from aerovane.config import get_settings

#: The token URL google-auth always puts in `aud` of its assertions, whatever `token_uri` says.
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
#: The scope that grants access to everything (the proxy requires it of access tokens).
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
#: The issuer of IAP's signed-header assertions.
IAP_ISSUER = "https://cloud.google.com/iap"
#: How long an IAP assertion lives (as Google's: 10 minutes).
IAP_ASSERTION_LIFETIME = 600


def _derived(purpose: str) -> bytes:
    """A stable pseudo-random value per installation (keyed by the web server secret)."""
    settings = get_settings()
    secret = settings.getstr("webserver", "secret_key") or settings.getstr("identity", "project_id")
    return hmac.new(secret.encode(), f"aerovane.identity.{purpose}".encode(), "sha256").digest()


def _digits(purpose: str, count: int) -> str:
    """`count` decimal digits, the first one non-zero."""
    value = int.from_bytes(_derived(purpose), "big")
    low = 10 ** (count - 1)
    return str(low + value % (9 * low))


def project_id() -> str:
    return get_settings().getstr("identity", "project_id")


def project_number() -> str:
    """[identity] project_number, or 12 digits derived from the secret."""
    configured = get_settings().getstr("identity", "project_number")
    return configured or _digits("project_number", 12)


def oauth_client_id() -> str:
    """[proxy] client_id, or `<project number>-<32 [a-z0-9]>.<[proxy] client_id_suffix>`."""
    settings = get_settings()
    configured = settings.getstr("proxy", "client_id")
    if configured:
        return configured
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    value = int.from_bytes(_derived("oauth_client_id"), "big")
    chars = []
    for _ in range(32):
        value, index = divmod(value, len(alphabet))
        chars.append(alphabet[index])
    suffix = settings.getstr("proxy", "client_id_suffix")
    return f"{project_number()}-{''.join(chars)}.{suffix}"


def iap_audience() -> str:
    """[proxy] audience, or `/projects/<number>/global/backendServices/<digits>`."""
    configured = get_settings().getstr("proxy", "audience")
    if configured:
        return configured
    return f"/projects/{project_number()}/global/backendServices/{_digits('backend_service', 19)}"


def public_url() -> str:
    """Where clients reach the token service: [identity] public_url or [webserver] base_url."""
    settings = get_settings()
    url = settings.getstr("identity", "public_url") or settings.base_url
    return url.rstrip("/")


def token_url() -> str:
    return f"{public_url()}/token"


def issuer() -> str:
    """`iss` of the ID and access tokens Aerovane issues."""
    return get_settings().getstr("identity", "issuer") or public_url()


def accepted_assertion_audiences() -> frozenset[str]:
    """`aud` values a JWT-bearer assertion may carry: Google's token URL and ours."""
    return frozenset({GOOGLE_TOKEN_URL, token_url()})


def service_account_domain() -> str:
    return get_settings().getstr("identity", "service_account_domain")


def token_lifetime() -> int:
    return get_settings().getint("identity", "token_lifetime")


def clock_skew() -> int:
    return get_settings().getint("identity", "assertion_clock_skew")


def fingerprint(secret: str) -> str:
    """A short, non-reversible label for a secret (for binding tokens to a password hash)."""
    return hashlib.sha256(f"aerovane.identity.fp\0{secret}".encode()).hexdigest()[:32]


def metadata_host() -> str:
    """`host:port` where tasks reach this server (the value for GCE_METADATA_HOST): the API
    server, which listens at [proxy] api_host:api_port behind the proxy, else at
    [webserver] web_server_host:web_server_port."""
    settings = get_settings()
    if settings.getboolean("proxy", "enabled"):
        host, port = settings.getstr("proxy", "api_host"), settings.getint("proxy", "api_port")
    else:
        host = settings.getstr("webserver", "web_server_host")
        port = settings.getint("webserver", "web_server_port")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
