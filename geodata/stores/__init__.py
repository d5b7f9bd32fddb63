"""Stores of a world: one interface (:class:`~geodata.stores.base.BaseStore`), two backends.

``embedded`` (default)
    The world directory's GeoParquet files plus ``store.sqlite`` for contacts, groups, API
    keys and audit (:mod:`geodata.stores.embedded`). No server.
``postgis``
    Everything in PostgreSQL/PostGIS (:mod:`geodata.stores.postgis`), prepared with
    ``geoalert db upgrade`` and filled with ``geoalert load``.

Both answer every call identically. Open one with :func:`open_store`::

    from geodata.stores import open_store

    store = open_store(data_dir="world/")                      # embedded
    store = open_store(db="postgresql+psycopg://host/geoalert")  # PostGIS
    addresses = store.read_addresses()
"""

from __future__ import annotations

import importlib
import os

from geodata.stores.base import BaseStore

__all__ = ["STORES", "BaseStore", "open_store", "store_class"]

#: Backend name -> "module:class"; imported only when used.
STORES: dict[str, str] = {
    "embedded": "geodata.stores.embedded:EmbeddedStore",
    "postgis": "geodata.stores.postgis:PostgisStore",
}


def store_class(name: str) -> type[BaseStore]:
    """The store class registered under ``name``.

    Raises
    ------
    ValueError
        For an unknown name (the known ones are listed).
    """
    try:
        module, _, cls = STORES[name].partition(":")
    except KeyError:
        raise ValueError(f"unknown store {name!r}; expected one of {', '.join(STORES)}") from None
    return getattr(importlib.import_module(module), cls)


def open_store(
    data_dir: str | os.PathLike[str] | None = None,
    db: str | None = None,
    *,
    metric_crs: str = "EPSG:3812",
) -> BaseStore:
    """Open the store of a world: PostGIS when ``db`` is given, else the embedded store of
    ``data_dir``.

    Parameters
    ----------
    data_dir : path, optional
        World directory (``geoalert demo-data`` output) for the embedded store.
    db : str, optional
        SQLAlchemy URL of a PostGIS database (``postgresql+psycopg://...``) loaded with
        ``geoalert load``; ``data_dir`` is then not used.
    metric_crs : str
        Projected CRS in metres used to match registered locations to addresses.

    Raises
    ------
    ValueError
        When neither is given.
    """
    if db is not None:
        return store_class("postgis")(db, metric_crs=metric_crs)
    if data_dir is None:
        raise ValueError("open_store needs a world directory (data_dir) or a database URL (db)")
    return store_class("embedded")(data_dir, metric_crs=metric_crs)
