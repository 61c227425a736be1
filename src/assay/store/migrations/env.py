"""Alembic environment: always run with a connection handed over by ``assay.store.migrate``."""

from __future__ import annotations

from alembic import context

from assay.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through assay.store.migrate
    raise RuntimeError("run migrations through `assay db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
