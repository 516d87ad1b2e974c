"""Creating and finding users."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from aerovane.auth.passwords import verify_password
from aerovane.auth.users import create_user, find_user, random_password
from aerovane.db.engine import create_session
from aerovane.services.errors import AlreadyExists, BadRequest


@pytest.fixture
def session(db: Path) -> Session:
    with create_session() as s:
        yield s


def _create(session: Session, **overrides: object) -> object:
    values: dict[str, object] = {
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
        "role_names": ["Viewer"],
        "password": "pw",
    }
    values.update(overrides)
    return create_user(session=session, **values)  # type: ignore[arg-type]


def test_create_and_find(session: Session) -> None:
    _create(session, role_names=["Viewer", "Op"])
    user = find_user("alice", session=session)
    assert user is not None
    assert user.email == "alice@example.com"
    assert sorted(r.name for r in user.roles) == ["Op", "Viewer"]
    assert user.active is True
    assert user.password is not None and user.password.startswith("scrypt:")
    assert verify_password(user.password, "pw")
    assert find_user("bob", session=session) is None


def test_create_does_not_commit(db: Path) -> None:
    with create_session() as session:
        _create(session)
        session.rollback()
    with create_session(readonly=True) as session:
        assert find_user("alice", session=session) is None


@pytest.mark.parametrize(
    "username",
    ["accounts.google.com:112233445566778899", "a", "x" * 512, "user@example.com", "ünï"],
)
def test_valid_usernames(session: Session, username: str) -> None:
    _create(session, username=username)
    assert find_user(username, session=session) is not None


@pytest.mark.parametrize("username", ["", "   ", "x" * 513, " padded", "tab\there", "nl\n"])
def test_invalid_usernames(session: Session, username: str) -> None:
    with pytest.raises(BadRequest, match="username"):
        _create(session, username=username)


def test_long_valid_email(session: Session) -> None:
    email = "a" * 64 + "@" + "b" * 177 + ".example.com"
    assert len(email) == 254
    _create(session, email=email)


@pytest.mark.parametrize("email", ["", "   ", "nl\nhere", "a" * 250 + "@x.io"])
def test_invalid_emails(session: Session, email: str) -> None:
    with pytest.raises(BadRequest, match="email"):
        _create(session, email=email)


@pytest.mark.parametrize("email", ["plain", "uid-1234", "no@dot", "two@@example.com", "1234"])
def test_any_unique_string_is_an_email(session: Session, email: str) -> None:
    """Airflow's CLI takes any string; Cloud Composer's guide relies on it."""
    _create(session, email=email)
    assert find_user("alice", session=session).email == email
    with pytest.raises(AlreadyExists, match="email"):
        _create(session, username="bob", email=email.upper())


def test_unknown_role(session: Session) -> None:
    with pytest.raises(BadRequest, match="Unknown role\\(s\\): Ghost, Nobody"):
        _create(session, role_names=["Viewer", "Nobody", "Ghost"])


def test_duplicates(session: Session) -> None:
    _create(session)
    with pytest.raises(AlreadyExists, match="alice"):
        _create(session, email="other@example.com")
    with pytest.raises(AlreadyExists, match="email"):
        _create(session, username="bob", email="ALICE@example.com")


def test_user_without_password(session: Session) -> None:
    _create(session, password=None)
    user = find_user("alice", session=session)
    assert user is not None and user.password is None
    with pytest.raises(BadRequest, match="password"):
        _create(session, username="bob", email="bob@example.com", password="")


def test_long_names_rejected(session: Session) -> None:
    with pytest.raises(BadRequest, match="first_name"):
        _create(session, first_name="x" * 257)


def test_random_password() -> None:
    passwords = {random_password() for _ in range(20)}
    assert len(passwords) == 20
    assert all(len(p) >= 20 for p in passwords)
