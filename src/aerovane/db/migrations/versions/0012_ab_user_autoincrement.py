"""ab_user ids are never reused on SQLite (AUTOINCREMENT)

Without AUTOINCREMENT SQLite gives a new row the largest id + 1, so deleting the newest user and
creating another handed the new one the old id, and with it the deleted user's unexpired ID
tokens and session cookies (they name the user by id). PostgreSQL's sequence never reuses ids.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_OPERATIONS = ("insert", "update", "delete")


def _rebuild_ab_user(*, autoincrement: bool) -> None:
    """Copy-and-move ab_user (the only way to change AUTOINCREMENT), keeping what the move
    loses: ab_user_role rows (dropping ab_user cascades to them while foreign keys are on,
    which they are inside the migration's transaction) and ab_user's auth_version triggers."""
    bind = op.get_bind()
    user_role = sa.Table("ab_user_role", sa.MetaData(), autoload_with=bind)
    memberships = [dict(row._mapping) for row in bind.execute(sa.select(user_role))]
    with op.batch_alter_table(
        "ab_user", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass
    present = {tuple(row) for row in bind.execute(sa.select(*user_role.primary_key.columns))}
    key = [c.name for c in user_role.primary_key.columns]
    missing = [m for m in memberships if tuple(m[k] for k in key) not in present]
    if missing:
        bind.execute(user_role.insert(), missing)
    for operation in _OPERATIONS:
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS ab_user_{operation}_auth_version "
            f"AFTER {operation.upper()} ON ab_user "
            "BEGIN UPDATE auth_version SET version = random(); END"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_ab_user(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_ab_user(autoincrement=False)
