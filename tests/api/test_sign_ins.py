"""last_login / login_count / fail_login_count of basic-auth callers (FAB's
`update_user_auth_stat`, docs/decisions/0019)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from aerovane.auth import passwords
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_user


def _stats(username: str) -> tuple[Any, int | None, int | None, Any]:
    with create_session(readonly=True) as session:
        row = session.execute(
            select(
                models.User.last_login,
                models.User.login_count,
                models.User.fail_login_count,
                models.User.changed_on,
            ).where(models.User.username == username)
        ).one()
        return tuple(row)  # type: ignore[return-value]


def test_basic_auth_sign_ins_are_recorded(client: httpx.Client, accounts: Any) -> None:
    user = add_user("signer", ["Viewer"], password="signer-pw")
    changed_on = _stats("signer")[3]
    assert _stats("signer")[:3] == (None, 0, 0)
    # A wrong password counts as a failed sign-in; an unknown user changes nothing.
    assert client.get("/dags", auth=(user.username, "wrong")).status_code == 401
    assert client.get("/dags", auth=("nobody", "wrong")).status_code == 401
    assert _stats("signer")[:3] == (None, 0, 1)
    # The first request with the password signs in (and the answer already shows it) ...
    me = client.get("/users/signer", auth=accounts["Admin"].auth)
    assert me.json()["login_count"] == 0
    assert client.get("/dags", auth=user.auth).status_code == 200
    last_login, count, failed, changed = _stats("signer")
    assert last_login is not None and (count, failed) == (1, 0)
    assert changed == changed_on  # the account itself did not change
    # ... later requests with the remembered password are the same sign-in.
    for _ in range(3):
        assert client.get("/dags", auth=user.auth).status_code == 200
    assert _stats("signer")[1] == 1
    # Once the check is forgotten (a minute later, or another process), it is a new sign-in.
    passwords.verification_cache.clear()
    assert client.get("/dags", auth=user.auth).status_code == 200
    later, count, _, _ = _stats("signer")
    assert count == 2 and later >= last_login


def test_an_inactive_user_is_not_counted(client: httpx.Client, db: Any) -> None:
    user = add_user("gone", ["Viewer"], password="gone-pw", active=False)
    assert client.get("/dags", auth=user.auth).status_code == 401
    assert client.get("/dags", auth=(user.username, "wrong")).status_code == 401
    assert _stats("gone")[:3] == (None, 0, 0)
