"""task_reschedule: the pokes of sensors in reschedule mode

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aerovane.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_reschedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("start_date", aerovane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("end_date", aerovane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column(
            "reschedule_date", aerovane.db.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["dag_id", "task_id", "run_id", "map_index"],
            [
                "task_instance.dag_id",
                "task_instance.task_id",
                "task_instance.run_id",
                "task_instance.map_index",
            ],
            name=op.f("task_reschedule_dag_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("task_reschedule_pkey")),
    )
    op.create_index(
        op.f("idx_task_reschedule_dag_id_task_id_run_id_map_index_try_number"),
        "task_reschedule",
        ["dag_id", "task_id", "run_id", "map_index", "try_number"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("idx_task_reschedule_dag_id_task_id_run_id_map_index_try_number"),
        table_name="task_reschedule",
    )
    op.drop_table("task_reschedule")
