"""Admin > Users: list, create, edit (roles, active), activate/deactivate, delete.

Airflow's (Flask-AppBuilder's) paths: `/users/list/`, `/users/add`, `/users/edit/<id>`,
`/users/delete/<id>`. The email is any unique string, as Cloud Composer's guide and Airflow's
CLI allow (`accounts.google.com:NUMERIC_ID` users pre-registered for service accounts). A user
without a password signs in only through the identity-aware proxy.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from aerovane.api.deps import DbSession, db_handler
from aerovane.auth import users as user_service
from aerovane.auth.permissions import CREATE, DELETE, EDIT, READ
from aerovane.auth.roles import all_roles
from aerovane.db import models
from aerovane.services.errors import ServiceError
from aerovane.www.access import requires_page_access
from aerovane.www.audit import audit_page
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


@router.get(LIST, dependencies=[Depends(requires_page_access(READ, USERS))])
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


@router.get("/users/add", dependencies=[Depends(requires_page_access(CREATE, USERS))])
@db_handler
def add_user_form(request: Request, session: DbSession) -> Response:
    return _form_page(request, session, user=None, values={"active": True, "roles": []})


@router.post(
    "/users/add",
    dependencies=[
        Depends(requires_page_access(CREATE, USERS)),
        Depends(audit_page("user.create")),
    ],
)
@db_handler
def add_user(request: Request, form: PostedForm, session: DbSession) -> Response:
    values = _values(form)
    password, confirm = form.get("password"), form.get("confirm_password")
    if password != confirm:
        return _form_page(
            request, session, user=None, values=values, error="Passwords must match.", status=400
        )
    if not values["roles"]:
        return _form_page(
            request, session, user=None, values=values, error="Choose a role.", status=400
        )
    try:
        user = user_service.create_user(
            username=values["username"],
            email=values["email"],
            first_name=values["first_name"],
            last_name=values["last_name"],
            role_names=values["roles"],
            password=password or None,
            session=session,
        )
        user.active = values["active"]
        session.flush()
    except ServiceError as exc:
        session.rollback()
        return _form_page(request, session, user=None, values=values, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"User {user.username} created.")


@router.get("/users/edit/{user_id}", dependencies=[Depends(requires_page_access(EDIT, USERS))])
@db_handler
def edit_user_form(request: Request, user_id: int, session: DbSession) -> Response:
    user = _user(user_id, session)
    values = {
        **{field: getattr(user, field) for field in _FIELDS},
        "roles": [role.name for role in user.roles],
        "active": user.active,
    }
    return _form_page(request, session, user=user, values=values)


@router.post(
    "/users/edit/{user_id}",
    dependencies=[
        Depends(requires_page_access(EDIT, USERS)),
        Depends(audit_page("user.edit")),
    ],
)
@db_handler
def edit_user(request: Request, user_id: int, form: PostedForm, session: DbSession) -> Response:
    user = _user(user_id, session)
    values = _values(form)
    changes: dict[str, Any] = {field: values[field] for field in _FIELDS}
    changes["roles"] = values["roles"]
    password = form.get("password")
    if password:
        if password != form.get("confirm_password"):
            return _form_page(
                request,
                session,
                user=user,
                values=values,
                error="Passwords must match.",
                status=400,
            )
        changes["password"] = password
    if not values["roles"]:
        return _form_page(
            request, session, user=user, values=values, error="Choose a role.", status=400
        )
    try:
        user_service.update_user(user, changes, session=session)
        user.active = values["active"]
        session.flush()
    except ServiceError as exc:
        session.rollback()
        user = _user(user_id, session)
        return _form_page(request, session, user=user, values=values, error=str(exc), status=400)
    return redirect_with_flash(LIST, f"User {user.username} saved.")


@router.post(
    "/users/active/{user_id}",
    dependencies=[
        Depends(requires_page_access(EDIT, USERS)),
        Depends(audit_page("user.active")),
    ],
)
@db_handler
def set_active(
    request: Request, user_id: int, form: PostedForm, principal: PagePrincipal, session: DbSession
) -> Response:
    user = _user(user_id, session)
    active = form.get("active") == "true"
    if not active and user.id == principal.user_id:
        raise PageError(400, "You cannot deactivate yourself.")
    user.active = active
    session.flush()
    state = "activated" if active else "deactivated"
    return redirect_with_flash(LIST, f"User {user.username} {state}.")


@router.post(
    "/users/delete/{user_id}",
    dependencies=[
        Depends(requires_page_access(DELETE, USERS)),
        Depends(audit_page("user.delete")),
    ],
)
@db_handler
def delete_user(
    request: Request, user_id: int, form: PostedForm, principal: PagePrincipal, session: DbSession
) -> Response:
    user = _user(user_id, session)
    if user.id == principal.user_id:
        raise PageError(400, "You cannot delete yourself.")
    username = user.username
    user_service.delete_user(username, session=session)
    return redirect_with_flash(LIST, f"User {username} deleted.")
