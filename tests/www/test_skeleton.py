"""The UI's foundation: landing, sign-in and sign-out, CSRF, HTML error pages, static files."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.www.conftest import Account, Browserish, csrf_token


def test_root_redirects_to_home_and_home_to_the_sign_in_form(anonymous: Browserish) -> None:
    root = anonymous.get("/")
    assert root.status_code == 302
    assert root.headers["location"] == "/home"
    home = anonymous.get("/home", headers={"accept": "text/html"})
    assert home.status_code == 303
    assert home.headers["location"] == "/login/?next=/home"
    form = anonymous.get(home.headers["location"])
    assert form.status_code == 200
    assert form.headers["content-type"].startswith("text/html")
    assert 'name="password"' in form.text


def test_sign_in_sets_safe_cookies_and_lands_where_asked(anonymous: Browserish, accounts) -> None:
    page = anonymous.get("/login/?next=/home")
    csrf_cookie = page.headers["set-cookie"]
    assert "aerovane_csrf=" in csrf_cookie
    assert "HttpOnly" in csrf_cookie
    assert "SameSite=lax" in csrf_cookie.replace("Lax", "lax")
    response = anonymous.post(
        "/login/",
        data={
            "csrf_token": csrf_token(page.text),
            "username": "viewer",
            "password": "Viewer-pw",
            "next": "/home",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/home"
    session = [c for c in response.headers.get_list("set-cookie") if c.startswith("session=")]
    assert session and "HttpOnly" in session[0] and "lax" in session[0].lower()
    assert "Secure" not in session[0]  # plain HTTP here
    home = anonymous.get("/home")
    assert home.status_code == 200
    assert "viewer" in home.text


def test_wrong_password_and_off_site_next(anonymous: Browserish, accounts) -> None:
    page = anonymous.get("/login/?next=https://evil.example/")
    assert 'value="/home"' in page.text  # the off-site target is dropped
    response = anonymous.post(
        "/login/",
        data={"csrf_token": csrf_token(page.text), "username": "viewer", "password": "nope"},
    )
    assert response.status_code == 401
    assert "Invalid username or password" in response.text
    assert not any(c.startswith("session=") for c in response.headers.get_list("set-cookie"))


def test_forms_need_the_csrf_token_of_the_person_posting(
    anonymous: Browserish, signed_in: Callable[[str], Browserish], accounts
) -> None:
    # The sign-in form refuses a post without a token (a cross-site form cannot read it).
    refused = anonymous.post("/login/", data={"username": "admin", "password": "Admin-pw"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    admin = signed_in("Admin")
    # A token minted for someone else (here: the signed-out form) is worthless.
    other = csrf_token(anonymous.get("/login/").text)
    admin.cookies.set("aerovane_csrf", anonymous.cookies["aerovane_csrf"])
    stale = admin.post("/logout/", data={"csrf_token": other})
    assert stale.status_code == 403
    assert "did not come from this site" in stale.text


def test_sign_out_ends_the_session(signed_in: Callable[[str], Browserish]) -> None:
    client = signed_in("Op")
    assert client.get("/home").status_code == 200
    response = client.post_form("/home", "/logout/", {})
    assert response.status_code == 303
    assert response.headers["location"] == "/login/"
    assert client.get("/home").status_code == 303


def test_sign_out_ends_every_copy_of_the_session(
    signed_in: Callable[[str], Browserish], base_url: str
) -> None:
    """Deleting the cookie in one browser is not enough: a copy (another tab, a stolen one) of a
    cookie that had 30 days to run must stop working too (issue 14, as the proxy's sessions)."""
    client = signed_in("Op")
    stolen = client.cookies["session"]
    with Browserish(base_url=base_url, timeout=60, follow_redirects=False) as elsewhere:
        elsewhere.cookies.set("session", stolen)
        assert elsewhere.get("/home").status_code == 200
        assert client.post_form("/home", "/logout/", {}).status_code == 303
        assert elsewhere.get("/home").status_code == 303
        assert elsewhere.get("/api/v1/dags", headers={"accept": "*/*"}).status_code == 401
    # Signing in again gives a session that works; the old cookie stays dead.
    again = signed_in("Op")
    assert again.get("/home").status_code == 200
    assert again.cookies["session"] != stolen


def test_a_password_change_ends_the_sessions(
    signed_in: Callable[[str], Browserish], accounts: dict[str, Account], base_url: str
) -> None:
    person = signed_in("Viewer")
    admin = signed_in("Admin")
    assert person.get("/home").status_code == 200
    changed = httpx.patch(
        f"{base_url}/auth/fab/v1/users/{accounts['Viewer'].username}",
        params={"update_mask": "password"},
        json={"password": "a brand new password 7"},
        auth=accounts["Admin"].auth,
        timeout=60,
    )
    assert changed.status_code == 200, changed.text
    assert person.get("/home").status_code == 303
    assert admin.get("/home").status_code == 200  # nobody else's session ends


def test_errors_are_html_pages_on_pages_and_problems_on_the_api(
    signed_in: Callable[[str], Browserish], base_url: str
) -> None:
    client = signed_in("Public")
    forbidden = client.get("/home")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert "403 Forbidden" in forbidden.text
    missing = client.get("/no-such-page", headers={"accept": "text/html"})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    api = httpx.get(f"{base_url}/api/v1/nope", headers={"accept": "text/html"})
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


def test_static_files_and_swagger_ui_are_served_here(anonymous: Browserish) -> None:
    css = anonymous.get("/static/aerovane.css")
    assert css.status_code == 200
    assert "max-age" in css.headers["cache-control"]
    assert anonymous.get("/static/vendor/htmx-2.0.11.min.js").status_code == 200
    docs = anonymous.get("/api/v1/ui")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()
    assert "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js" in docs.text
    assert anonymous.get("/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js").status_code == 200


def test_metadata_clients_still_get_the_metadata_ping(anonymous: Browserish) -> None:
    response = anonymous.get("/", headers={"Metadata-Flavor": "Google"})
    assert response.status_code == 200
    assert response.headers["metadata-flavor"] == "Google"


def test_a_refused_body_on_a_page_is_an_html_page(
    signed_in: Callable[[str], Browserish], monkeypatch
) -> None:
    from tests.api.conftest import set_config

    client = signed_in("Admin")
    set_config(monkeypatch, api__maximum_request_body_size="1000")
    response = client.post(
        "/variable/add",
        content=b"key=x&val=" + b"a" * 5000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "413" in response.text


def test_a_server_error_on_a_page_is_a_page_with_the_id_to_quote(
    signed_in: Callable[[str], Browserish], base_url: str
) -> None:
    """A real database failure (its table renamed away) under a page: an HTML 500 with the
    correlation id, which is the request's id (so it finds the logged error), not JSON."""
    from tests.logs.test_request_id import table_away

    client = signed_in("Admin")
    with table_away("slot_pool"):
        page = client.get("/pool/list/")
        api = httpx.get(f"{base_url}/api/v1/pools", auth=("admin", "Admin-pw"))
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    request_id = page.headers["x-request-id"]
    assert f"Quote correlation id {request_id} when reporting it." in page.text
    assert "slot_pool" not in page.text  # nothing of the error itself
    assert api.status_code == 500
    assert api.headers["content-type"] == "application/problem+json"


def test_an_unexpected_error_on_a_page_is_a_page_with_the_id_to_quote(
    signed_in: Callable[[str], Browserish], base_url: str
) -> None:
    """Not a database error: a stored DAG the page cannot read (its JSON damaged)."""
    from sqlalchemy import update

    from aerovane.db import models
    from aerovane.db.engine import create_session
    from tests.api.conftest import add_dag

    add_dag("etl")
    client = signed_in("Admin")
    with create_session() as session:
        damaged = {"data": {"dag": {"tasks": "?"}}, "dag_hash": "damaged"}  # as a new version would
        session.execute(update(models.SerializedDagModel).values(**damaged))
    page = client.get("/dags/etl/graph")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert f"Quote correlation id {page.headers['x-request-id']} when" in page.text
    api = httpx.get(f"{base_url}/api/v1/dags/etl/tasks", auth=("admin", "Admin-pw"))
    assert api.status_code == 500
    assert f"correlation id {api.headers['x-request-id']} " in api.json()["detail"]
