"""Admin > Users over HTTP: create (any unique string as email), edit, activate/deactivate,
delete; who may do what."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aerovane.auth.users import find_user
from aerovane.db.engine import create_session
from tests.www.conftest import Browserish, csrf_token


def _user(username: str):
    with create_session(readonly=True) as session:
        user = find_user(username, session=session)
        return (
            None
            if user is None
            else {
                "id": user.id,
                "email": user.email,
                "active": user.active,
                "roles": sorted(r.name for r in user.roles),
                "first_name": user.first_name,
                "has_password": user.password is not None,
            }
        )


def test_create_a_service_account_user_as_composer_documents(
    signed_in: Callable[[str], Browserish],
) -> None:
    admin = signed_in("Admin")
    page = admin.get("/users/add")
    assert page.status_code == 200
    response = admin.post(
        "/users/add",
        data={
            "csrf_token": csrf_token(page.text),
            "first_name": "Build",
            "last_name": "Bot",
            "username": "accounts.google.com:112233445566778899",
            "email": "build-bot-unique-id",
            "active": "on",
            "roles": "Op",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/users/list/"
    listed = admin.get("/users/list/")
    assert "User accounts.google.com:112233445566778899 created." in listed.text
    assert "build-bot-unique-id" in listed.text
    assert _user("accounts.google.com:112233445566778899") == {
        "id": _user("accounts.google.com:112233445566778899")["id"],
        "email": "build-bot-unique-id",
        "active": True,
        "roles": ["Op"],
        "first_name": "Build",
        "has_password": False,
    }
    # The email is any string, but unique: a second user with it is refused on the form.
    again = admin.post_form(
        "/users/add",
        "/users/add",
        {"username": "other", "email": "build-bot-unique-id", "roles": "Viewer"},
    )
    assert again.status_code == 400
    assert "already taken" in again.text
    assert _user("other") is None


def test_edit_deactivate_activate_delete(signed_in: Callable[[str], Browserish]) -> None:
    admin = signed_in("Admin")
    viewer_id = _user("viewer")["id"]
    edited = admin.post_form(
        f"/users/edit/{viewer_id}",
        f"/users/edit/{viewer_id}",
        {
            "username": "viewer",
            "email": "viewer@example.com",
            "first_name": "Vera",
            "last_name": "Viewer",
            "roles": ["Viewer", "User"],
            "active": "on",
        },
    )
    assert edited.status_code == 303, edited.text
    assert _user("viewer")["roles"] == ["User", "Viewer"]
    assert _user("viewer")["first_name"] == "Vera"
    assert _user("viewer")["has_password"]  # left blank: kept
    off = admin.post_form("/users/list/", f"/users/active/{viewer_id}", {"active": "false"})
    assert off.status_code == 303
    assert _user("viewer")["active"] is False
    on = admin.post_form("/users/list/", f"/users/active/{viewer_id}", {"active": "true"})
    assert on.status_code == 303
    assert _user("viewer")["active"] is True
    gone = admin.post_form("/users/list/", f"/users/delete/{viewer_id}", {})
    assert gone.status_code == 303
    assert _user("viewer") is None
    own = _user("admin")["id"]
    refused = admin.post_form("/users/list/", f"/users/delete/{own}", {})
    assert refused.status_code == 400
    assert "text/html" in refused.headers["content-type"]


@pytest.mark.parametrize("role", ["Op", "User", "Viewer", "Public"])
def test_only_admins_manage_users(
    role: str, signed_in: Callable[[str], Browserish], accounts
) -> None:
    client = signed_in(role)
    assert client.get("/users/list/").status_code == 403
    assert client.get("/users/add").status_code == 403
    # Any page (even a 403 one) carries the person's sign-out form, so its CSRF token.
    token = csrf_token(client.get("/users/list/").text)
    posted = client.post(
        "/users/add",
        data={
            "csrf_token": token,
            "username": "sneaky",
            "email": "sneaky",
            "roles": "Admin",
            "active": "on",
        },
    )
    assert posted.status_code == 403
    assert posted.headers["content-type"].startswith("text/html")
    assert _user("sneaky") is None
