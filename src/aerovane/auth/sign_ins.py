"""`ab_user.last_login`, `login_count` and `fail_login_count`: FAB's `update_user_auth_stat`.

What counts as a sign-in (docs/decisions/0019): a password checked by the KDF (the proxy's
sign-in form, or basic auth when the password was not verified within the last minute, see
`aerovane.auth.passwords`), an account reached through the upstream identity provider, and a
newly verified proxy assertion for a service account. A basic-auth request whose password check
was remembered belongs to the same sign-in, so steady API traffic writes nothing.

Callers run these writes in a worker thread (never on the event loop) and wait for them, so the
answer to the request that signed in already shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, update

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow

_USER = models.User


def record_sign_in(user_id: int) -> None:
    """A successful sign-in of `user_id`: stamp `last_login`, count it, reset failures."""
    with create_session() as session:
        session.execute(
            update(_USER)
            .where(_USER.id == user_id)
            .values(
                last_login=utcnow(),
                login_count=func.coalesce(_USER.login_count, 0) + 1,
                fail_login_count=0,
                changed_on=_USER.changed_on,  # FAB's `changed_on` is the record's, not sign-ins'
            )
        )


def record_failed_sign_in(user_id: int) -> None:
    """A wrong password for an existing account (FAB counts these in `fail_login_count`)."""
    with create_session() as session:
        session.execute(
            update(_USER)
            .where(_USER.id == user_id)
            .values(
                fail_login_count=func.coalesce(_USER.fail_login_count, 0) + 1,
                changed_on=_USER.changed_on,
            )
        )


@dataclass(frozen=True, slots=True)
class SignIns:
    """What one request's authentication found to record: a sign-in, failed passwords."""

    user_id: int | None = None
    failed: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return self.user_id is not None or bool(self.failed)

    def record(self) -> None:
        """Write them (blocking: call it from a worker thread in a server)."""
        for user_id in self.failed:
            record_failed_sign_in(user_id)
        if self.user_id is not None:
            record_sign_in(self.user_id)
