"""Alembic's environment: migrations run on the connection `Database.upgrade()` hands over (never a URL from an
ini file), so the same code migrates SQLite and PostgreSQL, under the caller's lock."""

from __future__ import annotations

from alembic import context

from serve.stores.schema import metadata

connection = context.config.attributes["connection"]
# render_as_batch: SQLite cannot ALTER most things, so Alembic rebuilds its tables for a changed column
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
