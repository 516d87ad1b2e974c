"""login_throttle: failed password attempts per account and per address

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("login_throttle_pkey")),
    )
    op.create_index(
        op.f("idx_login_throttle_expires_at"), "login_throttle", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("idx_login_throttle_expires_at"), table_name="login_throttle")
    op.drop_table("login_throttle")
