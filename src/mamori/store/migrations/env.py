"""Alembic environment: the engine comes from ``mamori.store.migrate`` via config attributes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mamori.store.models import Base

config = context.config


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("mamori migrations run through mamori.store.migrate.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
