"""Alembic environment: runs on the connection quotad hands over, or on the configured database URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from quotad.tables import metadata

target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from quotad.config import load_config
    from quotad.ledger.db import create_ledger_engine

    engine = create_ledger_engine(load_config())
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `quotad db upgrade`")
run_migrations_online()
