"""Alembic environment: runs migrations on the connection `aerovane.db.migrate` hands over."""

from __future__ import annotations

from alembic import context

from aerovane.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs bare `alembic`
    raise RuntimeError("run migrations with `aerovane db migrate`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
