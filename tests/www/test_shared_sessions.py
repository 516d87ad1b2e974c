"""Signing out of the UI (or changing one's password) ends the session cookie on every API
server process sharing the database, not only in the browser that signed out: two real
`aerovane api-server` processes on one database, as two hosts would run them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.api.conftest import Account
from tests.www.conftest import Browserish, sign_in


@pytest.fixture
def two_servers(
    db: Path, accounts: dict[str, Account], tmp_path: Path
) -> Iterator[tuple[str, str]]:
    from benchmarks._trigger_storm import api_servers

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(AEROVANE_HOME=str(db), AEROVANE__WEBSERVER__SECRET_KEY="shared-by-both-hosts")
    with api_servers(env, 2, tmp_path / "servers.log") as (first, second):
        yield first, second


def _same_cookie(base: str, signed_in: Browserish) -> Browserish:
    other = Browserish(base_url=base, timeout=60, follow_redirects=False)
    other.cookies.set("session", signed_in.cookies["session"])
    return other


def _pair(first: str, second: str, account: Account) -> tuple[Browserish, Browserish]:
    """A browser signed in on `first`, and the same cookie presented to `second`."""
    on_first = sign_in(first, account)
    return on_first, _same_cookie(second, on_first)


def test_signing_out_or_a_new_password_ends_the_session_on_every_server(
    two_servers: tuple[str, str], accounts: dict[str, Account]
) -> None:
    """One test for both (each pair of servers costs a few seconds to start)."""
    from aerovane.auth.users import find_user, set_password
    from aerovane.db.engine import create_session

    first, second = two_servers
    on_first, on_second = _pair(first, second, accounts["Op"])
    with closing(on_first), closing(on_second):
        assert on_first.get("/home").status_code == 200
        assert on_second.get("/home").status_code == 200
        response = on_second.post_form("/home", "/logout/", {})
        assert response.status_code == 303
        # The browser on the first host still holds the cookie: it no longer signs anyone in.
        assert on_first.get("/home").status_code == 303
    on_first, on_second = _pair(first, second, accounts["Op"])
    with closing(on_first), closing(on_second):
        # Signing in again works on both ...
        assert on_second.get("/home").status_code == 200
        # ... until the password changes (by an admin, the CLI, anything writing the row).
        with create_session() as session:
            user = find_user(accounts["Op"].username, session=session)
            assert user is not None
            set_password(user, "a-brand-new-password-1")
        assert on_first.get("/home").status_code == 303
        assert on_second.get("/home").status_code == 303
