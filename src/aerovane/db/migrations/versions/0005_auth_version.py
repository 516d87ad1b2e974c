"""auth_version: a stamp that moves whenever users, roles or permissions change

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# A snapshot of aerovane.db.models.AUTH_TABLES as of this revision.
_TABLES = (
    "ab_user",
    "ab_role",
    "ab_user_role",
    "ab_permission",
    "ab_view_menu",
    "ab_permission_view",
    "ab_permission_view_role",
)
_OPERATIONS = ("insert", "update", "delete")


def upgrade() -> None:
    table = op.create_table(
        "auth_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("auth_version_pkey")),
    )
    op.bulk_insert(table, [{"id": 1, "version": secrets.randbits(62)}])
    if op.get_bind().dialect.name == "sqlite":
        for name in _TABLES:
            for operation in _OPERATIONS:
                op.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {name}_{operation}_auth_version "
                    f"AFTER {operation.upper()} ON {name} "
                    "BEGIN UPDATE auth_version SET version = random(); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _TABLES:
            for operation in _OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS {name}_{operation}_auth_version")
    op.drop_table("auth_version")
