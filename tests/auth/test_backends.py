"""The auth backends on their own: what each decides for a request."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from starlette.requests import HTTPConnection

from aerovane.auth.backends import basic_auth, default, deny_all
from aerovane.auth.backends.base import AuthOutcome, load_backends
from aerovane.auth.backends.basic_auth import parse_basic_credentials
from aerovane.auth.backends.registry import BACKENDS
from aerovane.auth.users import create_user
from aerovane.db.engine import create_session


def _request(authorization: str | None = None) -> HTTPConnection:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return HTTPConnection({"type": "http", "headers": headers, "method": "GET", "path": "/"})


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_every_registered_backend_loads() -> None:
    backends = load_backends(list(BACKENDS))
    assert [b.name for b in backends] == list(BACKENDS)
    aliases = load_backends(["basic_auth", "airflow.api.auth.backend.default", "deny_all"])
    assert [b.name for b in aliases] == [
        "aerovane.auth.backends.basic_auth",
        "aerovane.auth.backends.default",
        "aerovane.auth.backends.deny_all",
    ]
    with pytest.raises(ValueError, match="unknown auth backend"):
        load_backends(["kerberos"])


def test_parse_basic_credentials() -> None:
    assert parse_basic_credentials(_basic("a:b")) == ("a", "b")
    assert parse_basic_credentials(_basic("a:b:c")) == ("a", "b:c")
    assert parse_basic_credentials(_basic("a:")) == ("a", "")
    assert parse_basic_credentials("basic " + base64.b64encode(b"a:b").decode()) == ("a", "b")
    assert parse_basic_credentials(None) is None
    assert parse_basic_credentials("Bearer x") is None
    assert parse_basic_credentials("Basic") is None
    assert parse_basic_credentials("Basic !!!") is None
    assert parse_basic_credentials(_basic("nocolon")) is None
    assert parse_basic_credentials(_basic(":pw")) is None


def test_deny_all_and_default(db: Path) -> None:
    with create_session(readonly=True) as session:
        denied = deny_all.backend.authenticate(_request(), session)
        assert denied.outcome is AuthOutcome.FAILURE and denied.status == 403
        passed = default.backend.authenticate(_request(), session)
        assert passed.outcome is AuthOutcome.ANONYMOUS


def test_basic_auth(db: Path) -> None:
    with create_session() as session:
        create_user(
            username="alice",
            email="alice@example.com",
            first_name="Alice",
            last_name="L",
            role_names=["Viewer"],
            password="pw",
            session=session,
        )
    backend = basic_auth.backend
    with create_session(readonly=True) as session:
        ok = backend.authenticate(_request(_basic("alice:pw")), session)
        assert ok.outcome is AuthOutcome.USER
        assert ok.user is not None and ok.user.username == "alice"
        assert ("can_read", "DAGs") in ok.user.permissions
        for header in (None, _basic("alice:nope"), _basic("bob:pw"), "Digest x"):
            failed = backend.authenticate(_request(header), session)
            assert failed.outcome is AuthOutcome.FAILURE
            assert failed.status == 401
            assert failed.headers == {"WWW-Authenticate": "Basic"}
