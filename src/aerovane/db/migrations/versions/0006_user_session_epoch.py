"""ab_user.session_epoch: signing out of the proxy ends the person's session cookies

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both dialects: a batch (copy-and-move) on SQLite would drop ab_user's
# auth_version triggers.


def upgrade() -> None:
    op.add_column(
        "ab_user", sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("ab_user", "session_epoch")
