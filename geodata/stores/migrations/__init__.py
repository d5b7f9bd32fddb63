"""Alembic migrations of the store schema (:mod:`geodata.stores.schema`), run by
:func:`geodata.stores.migrate.upgrade` or ``geoalert db upgrade``."""
