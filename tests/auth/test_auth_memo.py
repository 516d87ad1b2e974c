"""What a process remembers about users, roles and permissions (`auth_memo`): kept through
writes to other tables, dropped by any change to an auth table, from any connection, and never
taken from a transaction that rolled back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from aerovane.auth.rbac import load_user_access, role_permissions
from aerovane.auth.users import create_user
from aerovane.db import models
from aerovane.db.engine import auth_memo, create_session, get_engine
from tests.conftest import PG_URL, counted_statements

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="the memo is SQLite's (no stamp on PG)")


def _user(db: Path) -> None:
    with create_session() as session:
        create_user(
            username="ada",
            email="ada@example.com",
            first_name="Ada",
            last_name="L",
            role_names=["Viewer"],
            password="pw-1234567",
            session=session,
        )


def _access(username: str = "ada"):  # type: ignore[no-untyped-def]
    with create_session(readonly=True) as session:
        return load_user_access(username, session=session)


def _raw() -> sqlite3.Connection:
    """Another writer, as the CLI in another process would be."""
    url = get_engine().url
    return sqlite3.connect(url.database, isolation_level=None)


def test_writes_to_other_tables_keep_the_memo(db: Path) -> None:
    _user(db)
    first = _access()
    assert first is not None and ("can_read", "DAGs") in first.permissions
    with create_session() as session:
        session.add(models.Variable(key="k", val="v"))
        session.add(models.Pool(pool="extra", slots=3, description=""))
    with counted_statements() as seen:
        again = _access()
    assert again == first
    assert seen == []  # no query at all: served from the memo


def test_a_change_from_another_process_is_seen_at_once(db: Path) -> None:
    _user(db)
    assert _access().active  # type: ignore[union-attr]
    with _raw() as conn:
        conn.execute("UPDATE ab_user SET active = 0 WHERE username = 'ada'")
    assert not _access().active  # type: ignore[union-attr]

    with create_session(readonly=True) as session:
        before = role_permissions("Viewer", session=session)
    with _raw() as conn:
        conn.execute(
            "DELETE FROM ab_permission_view_role WHERE role_id = "
            "(SELECT id FROM ab_role WHERE name = 'Viewer')"
        )
    with create_session(readonly=True) as session:
        assert before and role_permissions("Viewer", session=session) == frozenset()


def test_what_a_rolled_back_transaction_read_is_never_served(db: Path) -> None:
    _user(db)
    with create_session(readonly=True) as session:
        stamp = session.execute(select(models.AuthVersion.version)).scalar_one()
    with pytest.raises(RuntimeError), create_session() as session:
        admin = session.scalar(select(models.Role).where(models.Role.name == "Admin"))
        user = session.scalar(select(models.User).where(models.User.username == "ada"))
        user.roles.append(admin)  # type: ignore[union-attr]
        session.flush()
        inside = load_user_access("ada", session=session)
        assert inside is not None and ("can_delete", "Connections") in inside.permissions
        assert auth_memo(session)  # filled under the transaction's own stamp
        raise RuntimeError("roll back")
    with create_session(readonly=True) as session:
        assert session.execute(select(models.AuthVersion.version)).scalar_one() == stamp
    after = _access()
    assert after is not None and ("can_delete", "Connections") not in after.permissions


def test_both_ways_of_creating_the_schema_install_the_triggers(db: Path, tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    from aerovane.db import migrate

    def triggers(engine) -> set[str]:  # type: ignore[no-untyped-def]
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            return {row[0] for row in rows}

    fresh = triggers(get_engine())
    assert len(fresh) == 3 * len(models.AUTH_TABLES)
    replay = create_engine(f"sqlite:///{tmp_path / 'replay.db'}")
    with replay.begin() as conn:
        command.upgrade(migrate._alembic_config(conn), "head")
    assert triggers(replay) == fresh
    with replay.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth_version")).scalar() == 1
