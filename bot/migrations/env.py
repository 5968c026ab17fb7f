"""Alembic environment. Migrations always run on a connection handed in by
bot.core.migrate (connection sharing), so they work inside a running event loop and inside the
per-test PostgreSQL schemas."""
from __future__ import annotations

from alembic import context

from bot.core.migrate import include_name
from bot.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via bot.core.migrate
    raise RuntimeError("run migrations with 'landkort db upgrade' (bot.core.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
