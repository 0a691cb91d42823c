"""alembic's environment: runs on the connection `gateway.store.migrations` hands it (no alembic.ini,
no URL of its own), in that connection's transaction. Batch mode: SQLite changes a column by
copying its table."""

from __future__ import annotations

from alembic import context

from gateway.store.schema import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
