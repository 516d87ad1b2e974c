"""callback_request (DAG-level callbacks for the DAG processor) and sla_miss, as in Airflow 2

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aerovane.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", aerovane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("priority_weight", sa.Integer(), nullable=False),
        sa.Column("callback_data", sa.JSON(), nullable=False),
        sa.Column("callback_type", sa.String(length=20), nullable=False),
        sa.Column("processor_subdir", sa.String(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("callback_request_pkey")),
    )
    op.create_table(
        "sla_miss",
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("execution_date", aerovane.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("email_sent", sa.Boolean(), nullable=False),
        sa.Column("timestamp", aerovane.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("notification_sent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "dag_id", "execution_date", name=op.f("sla_miss_pkey")),
    )
    op.create_index(op.f("idx_sla_miss_dag_id"), "sla_miss", ["dag_id"], unique=False)
    op.create_index(op.f("idx_sla_miss_timestamp"), "sla_miss", ["timestamp"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("idx_sla_miss_timestamp"), table_name="sla_miss")
    op.drop_index(op.f("idx_sla_miss_dag_id"), table_name="sla_miss")
    op.drop_table("sla_miss")
    op.drop_table("callback_request")
