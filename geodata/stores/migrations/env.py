"""Alembic environment: migrates the connection handed over by :mod:`geodata.stores.migrate`."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from geodata.stores.migrate import include_object
from geodata.stores.schema import metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _migrate(connection)
    else:
        _migrate(connection)


def _migrate(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=include_object(connection.dialect.name),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
