"""The sign-in page: form → session cookie → access, its CSRF defences, sign-out, and the
authorization-code flow with an upstream OpenID Connect provider."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.proxy.conftest import Servers, add_user, set_config

PASSWORD = "correct horse battery staple"


@pytest.fixture
def people(db: Path) -> None:
    add_user("alice", ["Admin"], password=PASSWORD, email="alice@example.com")
    add_user("carol", ["Viewer"], password=PASSWORD, email="carol@example.org")


@pytest.fixture
def browser(proxy_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy_url, headers={"Accept": "text/html"}, timeout=30) as client:
        yield client


def _form_state(page: str) -> str:
    match = re.search(r'name=state value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _sign_in(browser: httpx.Client, target: str, username: str, password: str) -> httpx.Response:
    redirect = browser.get(target)
    assert redirect.status_code == 302
    page = browser.get(redirect.headers["location"])
    assert page.status_code == 200 and "<form" in page.text
    return browser.post(
        "/_aerovane/login",
        data={"username": username, "password": password, "state": _form_state(page.text)},
    )


def test_form_cookie_access(browser: httpx.Client, people: None, proxy_url: str) -> None:
    done = _sign_in(browser, "/api/v1/dags?limit=1", "alice", PASSWORD)
    assert done.status_code == 302
    assert done.headers["location"] == f"{proxy_url}/api/v1/dags?limit=1"
    cookie = next(c for c in done.headers.get_list("set-cookie") if "GCP_IAP_AUTH_TOKEN=" in c)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see test_secure_cookie_over_tls
    dags = browser.get("/api/v1/dags", headers={"Accept": "application/json"})
    assert dags.status_code == 200, dags.text
    # Alice is a local person: the API acts as her own account, with her own role.
    who = browser.get("/x?gcp-iap-mode=IDENTITY").json()
    assert who["email"] == "accounts.google.com:alice@example.com"
    pools = browser.post("/api/v1/pools", json={"name": "p", "slots": 1})
    assert pools.status_code == 200, pools.text


def test_wrong_password_and_unknown_user(browser: httpx.Client, people: None) -> None:
    for username, password in (("alice", "nope"), ("nobody", PASSWORD), ("", "")):
        refused = _sign_in(browser, "/", username, password)
        assert refused.status_code == 401
        assert "Invalid username or password" in refused.text
        assert "GCP_IAP_AUTH_TOKEN=" not in refused.headers.get("set-cookie", "")


def test_repeated_failures_are_throttled(
    browser: httpx.Client, people: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.identity import throttle

    monkeypatch.setattr(throttle, "PAIR_LIMIT", 3)
    for _ in range(3):
        assert _sign_in(browser, "/", "alice", "nope").status_code == 401
    # The right password waits too, so a throttled answer tells nothing.
    throttled = _sign_in(browser, "/", "alice", PASSWORD)
    assert throttled.status_code == 429
    assert "Too many failed attempts" in throttled.text
    assert 0 < int(throttled.headers["retry-after"]) <= throttle.WINDOW
    assert "GCP_IAP_AUTH_TOKEN=" not in throttled.headers.get("set-cookie", "")
    # Another account from here is not throttled by Alice's count.
    assert _sign_in(browser, "/", "carol", PASSWORD).status_code == 302


def test_inactive_or_deleted_user_loses_the_session(browser: httpx.Client, people: None) -> None:
    from aerovane.auth.users import find_user
    from aerovane.db.engine import create_session

    assert _sign_in(browser, "/", "alice", PASSWORD).status_code == 302
    assert browser.get("/api/v1/dags").status_code == 200
    with create_session() as session:
        find_user("alice", session=session).active = False
    assert browser.get("/api/v1/dags").status_code == 302  # back to the sign-in page


def test_csrf_defences(browser: httpx.Client, people: None, proxy_url: str) -> None:
    page = browser.get("/_aerovane/login")
    state = _form_state(page.text)
    form = {"username": "alice", "password": PASSWORD, "state": state}
    # Without the nonce cookie (another browser, or a cross-site post): refused.
    with httpx.Client(base_url=proxy_url) as stranger:
        assert stranger.post("/_aerovane/login", data=form).status_code == 400
    # A cross-origin Origin: refused even with the cookie.
    cross = browser.post("/_aerovane/login", data=form, headers={"Origin": "https://evil.test"})
    assert cross.status_code == 403
    # A forged or altered state: refused.
    assert browser.post("/_aerovane/login", data={**form, "state": state + "x"}).status_code == 400
    # Not a form: refused.
    assert browser.post("/_aerovane/login", json=form).status_code == 400
    # The genuine one, same origin: accepted.
    same = browser.post("/_aerovane/login", data=form, headers={"Origin": proxy_url})
    assert same.status_code == 302


def test_redirects_stay_on_this_host(browser: httpx.Client, people: None, proxy_url: str) -> None:
    for target in ("https://evil.test/x", "//evil.test/x", "/\\evil.test", "javascript:alert(1)"):
        page = browser.get("/_aerovane/login?" + urlencode({"redirect_uri": target}))
        done = browser.post(
            "/_aerovane/login",
            data={"username": "alice", "password": PASSWORD, "state": _form_state(page.text)},
        )
        assert done.status_code == 302
        assert done.headers["location"] == f"{proxy_url}/", target
    page = browser.get("/_aerovane/login?" + urlencode({"redirect_uri": f"{proxy_url}/ok"}))
    state = _form_state(page.text)
    done = browser.post(
        "/_aerovane/login", data={"username": "alice", "password": PASSWORD, "state": state}
    )
    assert done.headers["location"] == f"{proxy_url}/ok"


def test_sign_out(browser: httpx.Client, people: None) -> None:
    assert _sign_in(browser, "/", "alice", PASSWORD).status_code == 302
    assert browser.get("/api/v1/dags").status_code == 200
    out = browser.get("/?gcp-iap-mode=CLEAR_LOGIN_COOKIE")
    assert out.status_code == 200 and "signed out" in out.text
    assert browser.get("/api/v1/dags").status_code == 302
    assert _sign_in(browser, "/", "alice", PASSWORD).status_code == 302
    browser.get("/_aerovane/logout")
    assert browser.get("/api/v1/dags").status_code == 302


def test_forged_or_expired_session_cookie(browser: httpx.Client, people: None) -> None:
    from aerovane.auth.users import find_user
    from aerovane.db.engine import create_session
    from aerovane.proxy.session import encode_session, session_for

    with create_session(readonly=True) as session:
        principal, valid = session_for(find_user("alice", session=session), lifetime=600)
    browser.cookies.set("GCP_IAP_AUTH_TOKEN", valid)
    assert browser.get("/api/v1/dags").status_code == 200
    password = session_password(valid)
    for value in (
        "garbage",
        encode_session(principal, lifetime=-10, epoch=0, password=password),
        # Issued under another epoch or password: ended by a sign-out or a password change.
        encode_session(principal, lifetime=600, epoch=1, password=password),
        encode_session(principal, lifetime=600, epoch=0, password="0" * 32),
    ):
        browser.cookies.set("GCP_IAP_AUTH_TOKEN", value)
        assert browser.get("/api/v1/dags").status_code == 302
    # Signed with another secret: refused.
    browser.cookies.set("GCP_IAP_AUTH_TOKEN", valid[:-2] + ("AA" if valid[-2:] != "AA" else "BB"))
    assert browser.get("/api/v1/dags").status_code == 302


def session_password(cookie: str) -> str:
    from aerovane.proxy.session import decode_session

    decoded = decode_session(cookie)
    assert decoded is not None
    return decoded.password


def _session_cookie(browser: httpx.Client) -> str:
    value = browser.cookies.get("GCP_IAP_AUTH_TOKEN")
    assert value
    return value


def test_sign_out_ends_every_copy_of_the_session(
    browser: httpx.Client, people: None, proxy_url: str
) -> None:
    assert _sign_in(browser, "/", "alice", PASSWORD).status_code == 302
    first = _session_cookie(browser)
    with httpx.Client(base_url=proxy_url, headers={"Accept": "text/html"}) as elsewhere:
        # A copy of the cookie (another tab, or a stolen one) works until she signs out...
        elsewhere.cookies.set("GCP_IAP_AUTH_TOKEN", first)
        assert elsewhere.get("/api/v1/dags").status_code == 200
        assert browser.get("/?gcp-iap-mode=CLEAR_LOGIN_COOKIE").status_code == 200
        # ...and not after, though it has hours left to run.
        assert elsewhere.get("/api/v1/dags").status_code == 302
        assert _sign_in(browser, "/", "alice", PASSWORD).status_code == 302
        second = _session_cookie(browser)
        assert browser.get("/api/v1/dags").status_code == 200
        # The old cookie signing out again ends nothing more; the new one signs out by the page.
        elsewhere.get("/_aerovane/logout")
        assert browser.get("/api/v1/dags").status_code == 200
        elsewhere.cookies.set("GCP_IAP_AUTH_TOKEN", second)
        assert elsewhere.get("/_aerovane/logout").status_code == 200
        browser.cookies.set("GCP_IAP_AUTH_TOKEN", second)
        assert browser.get("/api/v1/dags").status_code == 302


def test_a_password_change_ends_the_sessions(
    browser: httpx.Client, people: None, proxy_url: str
) -> None:
    assert _sign_in(browser, "/", "carol", PASSWORD).status_code == 302
    assert browser.get("/api/v1/dags").status_code == 200
    with httpx.Client(base_url=proxy_url, headers={"Accept": "text/html"}) as admin:
        assert _sign_in(admin, "/", "alice", PASSWORD).status_code == 302
        changed = admin.patch(
            "/auth/fab/v1/users/carol",
            params={"update_mask": "password"},
            json={"password": "a new password 2"},
            headers={"Accept": "application/json"},
        )
        assert changed.status_code == 200, changed.text
        # Someone else's change of a password ends nobody else's session.
        assert admin.get("/api/v1/dags").status_code == 200
    assert browser.get("/api/v1/dags").status_code == 302
    assert _sign_in(browser, "/", "carol", PASSWORD).status_code == 401
    assert _sign_in(browser, "/", "carol", "a new password 2").status_code == 302
    assert browser.get("/api/v1/dags").status_code == 200


def test_secure_cookie_over_tls(people: None) -> None:
    from aerovane.api.app import create_app
    from aerovane.proxy import create_proxy_app

    app = create_proxy_app(create_app())
    import asyncio

    async def flow() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.1", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="https://proxy.test") as http:
            page = await http.get("/_aerovane/login")
            return await http.post(
                "/_aerovane/login",
                data={"username": "alice", "password": PASSWORD, "state": _form_state(page.text)},
            )

    done = asyncio.run(flow())
    assert done.status_code == 302
    cookie = next(c for c in done.headers.get_list("set-cookie") if "GCP_IAP_AUTH_TOKEN=" in c)
    assert "Secure" in cookie
    assert done.headers["location"] == "https://proxy.test/"


def test_login_page_is_public_and_html(proxy_url: str, people: None) -> None:
    page = httpx.get(f"{proxy_url}/_aerovane/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "oidc" not in page.text  # no provider configured


# -- an upstream OpenID Connect provider ----------------------------------------------------------


class FakeProvider:
    """A minimal authorization-code OIDC provider that approves whoever asks."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.url = ""
        self.claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[dict[str, str]] = []

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.url,
                    "authorization_endpoint": f"{self.url}/authorize",
                    "token_endpoint": f"{self.url}/token",
                    "jwks_uri": f"{self.url}/jwks",
                    "response_types_supported": ["code"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                }
            )

        async def authorize(request: Request) -> Response:
            params = dict(request.query_params)
            code = f"code-{len(self.codes)}"
            self.codes[code] = params
            query = urlencode({"code": code, "state": params["state"]})
            return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

        async def token(request: Request) -> Response:
            form = dict(parse_qs((await request.body()).decode()))
            form = {k: v[0] for k, v in form.items()}
            self.token_requests.append(
                {**form, "authorization": request.headers.get("authorization", "")}
            )
            issued = self.codes.pop(form.get("code", ""), None)
            if issued is None or form.get("redirect_uri") != issued["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.url,
                "aud": issued["client_id"],
                "sub": "248289761001",
                "email": "dana@example.net",
                "email_verified": True,
                "given_name": "Dana",
                "family_name": "Scully",
                "nonce": issued["nonce"],
                "iat": now,
                "exp": now + 300,
                **self.claims,
            }
            id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
            return JSONResponse({"access_token": "opaque", "id_token": id_token})

        async def jwks(request: Request) -> Response:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return JSONResponse({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )


@pytest.fixture
def provider(db: Path, servers: Servers, monkeypatch: Any) -> FakeProvider:
    fake = FakeProvider()
    fake.url = servers.get(f"oidc-{id(fake)}", fake.app)
    set_config(
        monkeypatch,
        proxy__oidc_issuer=fake.url,
        proxy__oidc_client_id="aerovane-test",
        proxy__oidc_client_secret="provider-secret",
    )
    return fake


def _oidc_sign_in(browser: httpx.Client) -> httpx.Response:
    redirect = browser.get("/api/v1/dags")
    page = browser.get(redirect.headers["location"])
    start = re.search(r'href="(/_aerovane/oidc/start\?state=[^"]+)"', page.text)
    assert start, page.text
    to_provider = browser.get(start.group(1).replace("&amp;", "&"))
    assert to_provider.status_code == 302
    back = httpx.get(to_provider.headers["location"])
    assert back.status_code == 302
    return browser.get(back.headers["location"])


def test_oidc_sign_in_registers_and_admits(browser: httpx.Client, provider: FakeProvider) -> None:
    from aerovane.auth.users import find_user_by_email
    from aerovane.db.engine import create_session

    done = _oidc_sign_in(browser)
    assert done.status_code == 302, done.text
    assert done.headers["location"].endswith("/api/v1/dags")
    (request,) = provider.token_requests
    assert request["grant_type"] == "authorization_code"
    assert request["authorization"].startswith("Basic ")
    assert browser.get("/api/v1/dags", headers={"Accept": "application/json"}).status_code == 200
    with create_session(readonly=True) as session:
        user = find_user_by_email("dana@example.net", session=session)
        assert user is not None and user.password is None
        assert [r.name for r in user.roles] == ["Op"]
        assert (user.first_name, user.last_name) == ("Dana", "Scully")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"nonce": "another-sign-in"}, "does not belong to this sign-in"),
        ({"aud": "someone-else"}, "refused"),
        ({"email_verified": False}, "not verified"),
        ({"exp": 1000, "iat": 900}, "expired"),
        ({"iss": "https://impostor.example"}, "refused"),
    ],
)
def test_oidc_refusals(
    browser: httpx.Client, provider: FakeProvider, claims: dict[str, Any], message: str
) -> None:
    provider.claims = claims
    done = _oidc_sign_in(browser)
    assert done.status_code == 401
    assert message in done.text
    assert browser.get("/api/v1/dags").status_code == 302


def test_oidc_policy_applies_before_registration(
    browser: httpx.Client, provider: FakeProvider, monkeypatch: Any
) -> None:
    from aerovane.auth.users import find_user_by_email
    from aerovane.db.engine import create_session

    set_config(monkeypatch, proxy__allowed_members="domain:example.com")
    done = _oidc_sign_in(browser)
    assert done.status_code == 403
    with create_session(readonly=True) as session:
        assert find_user_by_email("dana@example.net", session=session) is None
    set_config(monkeypatch, proxy__allowed_members="domain:example.net")
    assert _oidc_sign_in(browser).status_code == 302
    assert browser.get("/api/v1/dags").status_code == 200


def test_oidc_callback_needs_the_browser_that_started(
    browser: httpx.Client, provider: FakeProvider, proxy_url: str
) -> None:
    redirect = browser.get("/")
    page = browser.get(redirect.headers["location"])
    start = re.search(r'href="(/_aerovane/oidc/start\?state=[^"]+)"', page.text).group(1)
    to_provider = browser.get(start)
    back = httpx.get(to_provider.headers["location"])
    # The callback replayed from another browser (no nonce cookie) is refused.
    with httpx.Client(base_url=proxy_url) as stranger:
        assert stranger.get(back.headers["location"]).status_code == 400
    assert urlsplit(back.headers["location"]).path == "/_aerovane/oidc/callback"


def _sign_in_stats(username: str) -> tuple[Any, int | None, int | None]:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    columns = (models.User.last_login, models.User.login_count, models.User.fail_login_count)
    with create_session(readonly=True) as session:
        row = session.execute(select(*columns).where(models.User.username == username)).one()
        return tuple(row)  # type: ignore[return-value]


def test_the_form_records_sign_ins(browser: httpx.Client, people: None) -> None:
    """FAB's `update_user_auth_stat`: a wrong password counts a failure, a sign-in counts once
    however many requests its session then makes (docs/decisions/0019)."""
    assert _sign_in(browser, "/", "carol", "nope").status_code == 401
    assert _sign_in_stats("carol") == (None, 0, 1)
    assert _sign_in(browser, "/api/v1/dags", "carol", PASSWORD).status_code == 302
    for _ in range(2):
        response = browser.get("/api/v1/dags", headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text
    last_login, count, failed = _sign_in_stats("carol")
    assert last_login is not None and (count, failed) == (1, 0)
