"""Who a token speaks for: `Principal` (a service account or a local user), `TokenError`, and
resolving a token's subject back to a principal that still exists and is enabled.

Service accounts carry a random 21-digit id; a local user's id is `10**20 + ab_user.id`. Random
service-account ids are drawn above `USER_ID_LIMIT`, so the two ranges never meet and a subject
alone says which table to look in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.db import models

USER_ID_BASE = 10**20
#: Local users' ids lie in [USER_ID_BASE, USER_ID_LIMIT); service accounts' above it.
USER_ID_LIMIT = USER_ID_BASE + 10**15


@dataclass(frozen=True)
class Principal:
    kind: Literal["user", "serviceAccount"]
    email: str
    unique_id: str

    @property
    def member(self) -> str:
        """The IAM member string, e.g. `serviceAccount:x@p.iam.gserviceaccount.com`."""
        return f"{self.kind}:{self.email}"


class TokenError(Exception):
    """A token was refused. `reason` is short text for a 401 body; it never contains a token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def user_unique_id(user: models.User) -> str:
    return str(USER_ID_BASE + user.id)


def principal_for_user(user: models.User) -> Principal:
    return Principal("user", user.email, user_unique_id(user))


def principal_for_service_account(account: models.ServiceAccount) -> Principal:
    return Principal("serviceAccount", account.email, account.unique_id)


def is_user_id(unique_id: str) -> bool:
    return unique_id.isdigit() and USER_ID_BASE <= int(unique_id) < USER_ID_LIMIT


def resolve_principal(unique_id: str, email: str | None, *, session: Session) -> Principal:
    """The enabled principal with this id (and email, when given), else TokenError."""
    if not isinstance(unique_id, str) or not unique_id.isdigit() or len(unique_id) != 21:
        raise TokenError("Invalid JWT subject")
    principal: Principal | None = None
    if is_user_id(unique_id):
        user = session.get(models.User, int(unique_id) - USER_ID_BASE)
        if user is not None and user.active:
            principal = principal_for_user(user)
    else:
        account = session.scalar(
            select(models.ServiceAccount).where(models.ServiceAccount.unique_id == unique_id)
        )
        if account is not None and not account.disabled:
            principal = principal_for_service_account(account)
    if principal is None:
        raise TokenError("Principal is disabled or does not exist")
    if email is not None and principal.email.lower() != email.lower():
        raise TokenError("Principal is disabled or does not exist")
    return principal
