"""last_login / login_count: recorded on a successful basic-auth sign-in, once per period."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from aerovane.auth import login_stats
from aerovane.db import models
from aerovane.db.engine import create_session
from tests.api.conftest import add_user


def _stats(username: str) -> tuple[Any, int | None]:
    with create_session(readonly=True) as session:
        row = session.execute(
            select(models.User.last_login, models.User.login_count).where(
                models.User.username == username
            )
        ).one()
        return row.last_login, row.login_count


def test_basic_auth_records_the_sign_in_once_per_period(
    client: httpx.Client, accounts: Any
) -> None:
    login_stats.forget()
    user = add_user("signer", ["Viewer"], password="signer-pw")
    assert _stats("signer") == (None, 0)
    assert client.get("/dags", auth=(user.username, "wrong")).status_code == 401
    assert _stats("signer") == (None, 0)
    for _ in range(3):
        assert client.get("/dags", auth=user.auth).status_code == 200
    last_login, count = _stats("signer")
    assert last_login is not None and count == 1
    # A new period (another process, or this one after RECORD_INTERVAL) counts once more.
    login_stats.forget()
    with create_session() as session:
        row = session.scalar(select(models.User).where(models.User.username == "signer"))
        assert row is not None
        row.last_login = last_login - login_stats.RECORD_INTERVAL
    assert client.get("/dags", auth=user.auth).status_code == 200
    assert _stats("signer")[1] == 2
