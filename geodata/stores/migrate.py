"""Schema migrations with alembic, packaged inside the project (no ``alembic.ini`` needed).

``geoalert db upgrade --db URL`` calls :func:`upgrade`; the embedded store upgrades its
``store.sqlite`` itself when opened; the PostGIS store refuses to open a database that is not
at :func:`head` (:class:`SchemaOutdated`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from geodata.stores.schema import metadata

__all__ = ["SchemaOutdated", "check_current", "config", "current", "differences", "head", "upgrade"]

SCRIPT_LOCATION = "geodata.stores:migrations"


class SchemaOutdated(RuntimeError):
    """The database schema is not at the revision this version of geoalert expects."""


def config(connection: sa.Connection | None = None) -> Config:
    """Alembic configuration of the store migrations, bound to ``connection`` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """Newest revision of the schema."""
    return ScriptDirectory.from_config(config()).get_current_head()


def current(engine: sa.Engine) -> str | None:
    """Revision a database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> str:
    """Migrate a database to ``revision`` (the newest by default); returns the revision reached.

    On PostgreSQL the ``postgis`` extension must be available; it is created when missing.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        command.upgrade(config(conn), revision)
    return current(engine)


def check_current(engine: sa.Engine) -> None:
    """Raise :class:`SchemaOutdated` unless the database is at :func:`head`."""
    at, want = current(engine), head()
    if at != want:
        url = engine.url.render_as_string(hide_password=True)
        raise SchemaOutdated(
            f"database schema at revision {at or 'none'}, this geoalert needs {want}: "
            f"run 'geoalert db upgrade --db {url}'"
        )


def include_object(dialect: str) -> Callable[..., bool]:
    """Filter of the objects alembic compares on ``dialect``: our tables only (not PostGIS'
    ``spatial_ref_sys``), reference geography only on PostgreSQL."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ != "table":
            return True
        if reflected:
            return compare_to is not None
        return not obj.info.get("geography") or dialect == "postgresql"

    return include


def differences(engine: sa.Engine) -> list:
    """What separates a database from :mod:`geodata.stores.schema` (alembic's diff; empty
    when they match)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object(conn.dialect.name), "compare_type": True}
        )
        return compare_metadata(context, metadata)
