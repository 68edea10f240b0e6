"""Alembic environment: runs on the connection `db.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from db.models import metadata

# A fixed key: concurrent `serve` starts on one PostgreSQL database migrate one at a time.
_ADVISORY_LOCK_KEY = 73_614_285


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
        context.run_migrations()


run_migrations_online()
