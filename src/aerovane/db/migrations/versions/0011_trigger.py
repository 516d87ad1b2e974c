"""trigger: deferred tasks' triggers, and the deferral columns of task_instance

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aerovane.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classpath", sa.String(length=1000), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column(
            "created_date", aerovane.db.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.Column("triggerer_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("trigger_pkey")),
    )
    op.create_index(op.f("idx_trigger_triggerer_id"), "trigger", ["triggerer_id"], unique=False)
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trigger_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "trigger_timeout", aerovane.db.types.UtcDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("next_method", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("next_kwargs", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("task_instance_trigger_id_fkey"),
            "trigger",
            ["trigger_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(batch_op.f("idx_task_instance_trigger_id"), ["trigger_id"])


def downgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("idx_task_instance_trigger_id"))
        batch_op.drop_constraint(batch_op.f("task_instance_trigger_id_fkey"), type_="foreignkey")
        batch_op.drop_column("next_kwargs")
        batch_op.drop_column("next_method")
        batch_op.drop_column("trigger_timeout")
        batch_op.drop_column("trigger_id")
    op.drop_index(op.f("idx_trigger_triggerer_id"), table_name="trigger")
    op.drop_table("trigger")
