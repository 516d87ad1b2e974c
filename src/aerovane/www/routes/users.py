"""Admin > Users: list, create, edit (roles, active), activate/deactivate, delete.

Airflow's (Flask-AppBuilder's) paths: `/users/list/`, `/users/add`, `/users/edit/<id>`,
`/users/delete/<id>`. The email is any unique string, as Cloud Composer's guide and Airflow's
CLI allow (`accounts.google.com:NUMERIC_ID` users pre-registered for service accounts). A user
without a password signs in only through the identity-aware proxy.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth import users as user_service
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.auth.roles import all_roles
from aerovane.db import models
from aerovane.services.errors import ServiceError
from aerovane.www.admin_views import guarded
from aerovane.www.auth import PagePrincipal
from aerovane.www.errors import PageError, PageRoute
from aerovane.www.flash import redirect_with_flash
from aerovane.www.forms import Form, PostedForm
from aerovane.www.nav import add_link
from aerovane.www.paging import Paging, page_links
from aerovane.www.templating import render

USERS = "Users"
LIST = "/users/list/"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Users", LIST, (READ, USERS), order=10)

_FIELDS = ("first_name", "last_name", "username", "email")


def _user(user_id: int, session: Session) -> models.User:
    user = session.get(models.User, user_id)
    if user is None:
        raise PageError(404, f"There is no user with id {user_id}.")
    return user


def _form_page(
    request: Request,
    session: Session,
    *,
    user: models.User | None,
    values: dict[str, Any],
    error: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "admin/user_form.html",
        {
            "user": user,
            "values": values,
            "roles": [role.name for role in all_roles(session=session)],
            "error": error,
        },
        status=status,
    )


def _values(form: Form) -> dict[str, Any]:
    return {
        **{field: form.get(field).strip() for field in _FIELDS},
        "roles": form.get_all("roles"),
        "active": form.get("active") == "on",
    }


def _save(request: Request, form: Form, user_id: int | None, session: Session) -> Response:
    """Create (`user_id` None) or update a user from the posted form. Editing, a blank
    password keeps the stored one."""
    user = None if user_id is None else _user(user_id, session)
    values = _values(form)
    password = form.get("password")
    error = ""
    if (password or user is None) and password != form.get("confirm_password"):
        error = "Passwords must match."
    elif not values["roles"]:
        error = "Choose a role."
    if error:
        return _form_page(request, session, user=user, values=values, error=error, status=400)
    try:
        if user is None:
            user = user_service.create_user(
                username=values["username"],
                email=values["email"],
                first_name=values["first_name"],
                last_name=values["last_name"],
                role_names=values["roles"],
                password=password or None,
                session=session,
            )
        else:
            changes: dict[str, Any] = {field: values[field] for field in _FIELDS}
            changes["roles"] = values["roles"]
            if password:
                changes["password"] = password
            user_service.update_user(user, changes, session=session)
        user.active = values["active"]
        session.flush()
    except ServiceError as exc:
        session.rollback()
        user = None if user_id is None else _user(user_id, session)
        return _form_page(request, session, user=user, values=values, error=str(exc), status=400)
    done = "created" if user_id is None else "saved"
    return redirect_with_flash(LIST, f"User {user.username} {done}.")


def _not_yourself(user: models.User, principal: PagePrincipal, doing: str) -> None:
    if user.id == principal.user_id:
        raise PageError(400, f"You cannot {doing} yourself.")


@router.get(LIST, dependencies=guarded(READ, USERS))
@db_handler
def list_users(request: Request, session: DbSession) -> Response:
    paging = Paging.of(request)
    search = request.query_params.get("q", "").strip()[:200]
    rows, total = user_service.list_users(
        offset=paging.offset, limit=paging.size, search=search, session=session
    )
    return render(
        request,
        "admin/users.html",
        {"users": rows, "q": search, "links": page_links(request, paging, total)},
    )


@router.get("/users/add", dependencies=guarded(CREATE, USERS))
@db_handler
def add_user_form(request: Request, session: DbSession) -> Response:
    return _form_page(request, session, user=None, values={"active": True, "roles": []})


@router.post("/users/add", dependencies=guarded(CREATE, USERS, "user.create"))
@db_handler
def add_user(request: Request, form: PostedForm, session: DbSession) -> Response:
    return _save(request, form, None, session)


@router.get("/users/edit/{user_id}", dependencies=guarded(EDIT, USERS))
@db_handler
def edit_user_form(request: Request, user_id: int, session: DbSession) -> Response:
    user = _user(user_id, session)
    values = {
        **{field: getattr(user, field) for field in _FIELDS},
        "roles": [role.name for role in user.roles],
        "active": user.active,
    }
    return _form_page(request, session, user=user, values=values)


@router.post("/users/edit/{user_id}", dependencies=guarded(EDIT, USERS, "user.edit"))
@db_handler
def edit_user(request: Request, user_id: int, form: PostedForm, session: DbSession) -> Response:
    return _save(request, form, user_id, session)


@router.post("/users/active/{user_id}", dependencies=guarded(EDIT, USERS, "user.active"))
@db_handler
def set_active(
    request: Request, user_id: int, form: PostedForm, principal: PagePrincipal, session: DbSession
) -> Response:
    user = _user(user_id, session)
    active = form.get("active") == "true"
    if not active:
        _not_yourself(user, principal, "deactivate")
    user.active = active
    session.flush()
    state = "activated" if active else "deactivated"
    return redirect_with_flash(LIST, f"User {user.username} {state}.")


@router.post("/users/delete/{user_id}", dependencies=guarded(DELETE, USERS, "user.delete"))
@db_handler
def delete_user(
    request: Request, user_id: int, form: PostedForm, principal: PagePrincipal, session: DbSession
) -> Response:
    user = _user(user_id, session)
    _not_yourself(user, principal, "delete")
    username = user.username
    user_service.delete_user(username, session=session)
    return redirect_with_flash(LIST, f"User {username} deleted.")
