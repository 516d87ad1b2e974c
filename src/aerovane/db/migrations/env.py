"""Alembic environment: runs migrations on the connection `aerovane.db.migrate` hands over, or
prints their SQL (offline mode, `aerovane db migrate|downgrade --show-sql-only`)."""

from __future__ import annotations

from alembic import context

from aerovane.db.models import Base

if context.is_offline_mode():
    url = context.config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()
else:
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
