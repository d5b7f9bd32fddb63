"""Moving a whole world into PostGIS with ``COPY`` (``geoalert load --data DIR --db URL``).

The load replaces the database's world in one transaction: every world table is emptied,
its secondary indexes dropped, rows streamed with ``COPY ... FROM STDIN`` (geometries as hex
EWKB), indexes (GiST on geometries) rebuilt, and statistics refreshed. API keys and the audit
log are kept. Readers see the old world until the load commits.

Reference geography comes from the world's Parquet files; contacts and groups from the world's
embedded store (``store.sqlite``, so registrations made there since the world was built come
along).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from geodata.stores import migrate
from geodata.stores.embedded import EmbeddedStore
from geodata.stores.schema import (
    SRID,
    addresses,
    areas,
    cells,
    contact_addresses,
    contacts,
    group_members,
    groups,
    presence,
)
from geodata.stores.world import explode_lists, read_world_layer

__all__ = ["load_world"]

#: Rows per chunk of CSV text sent to COPY.
CHUNK_ROWS = 200_000

# Load order respects foreign keys.
TABLES = (areas, cells, addresses, presence, contacts, contact_addresses, groups, group_members)


def load_world(
    data_dir: str | os.PathLike[str], db: str | sa.Engine, *, progress: bool = True
) -> dict[str, int]:
    """Replace the world in a PostGIS database with the world of ``data_dir``.

    Parameters
    ----------
    data_dir : path
        World directory (``geoalert demo-data`` output).
    db : str or sqlalchemy.Engine
        PostgreSQL database with PostGIS available; migrated to the newest schema first.
    progress : bool
        Show a progress bar per table.

    Returns
    -------
    dict of str to int
        Rows loaded per table, and ``seconds`` taken.
    """
    engine = sa.create_engine(db) if isinstance(db, str) else db
    try:
        return _load(Path(data_dir), engine, progress)
    finally:
        if isinstance(db, str):
            engine.dispose()


def _load(data_dir: Path, engine: sa.Engine, progress: bool) -> dict[str, int]:
    if engine.dialect.name != "postgresql":
        raise ValueError(f"load needs a postgresql:// URL, not {engine.dialect.name}")
    start = time.perf_counter()
    migrate.upgrade(engine)
    with EmbeddedStore(data_dir) as register:
        people, group_frame = register.read_contacts(), register.read_groups()
    sources = {
        "areas": lambda: read_world_layer(data_dir, "areas"),
        "cells": lambda: read_world_layer(data_dir, "cells"),
        "addresses": lambda: read_world_layer(data_dir, "addresses"),
        "presence": lambda: read_world_layer(data_dir, "presence"),
        "contacts": lambda: people,
        "contact_addresses": lambda: explode_lists(
            people, "contact_id", ["address_ids", "address_labels"]
        ).rename(columns={"address_ids": "address_id", "address_labels": "label"}),
        "groups": lambda: group_frame,
        "group_members": lambda: explode_lists(group_frame, "group_id", ["contact_ids"]).rename(
            columns={"contact_ids": "contact_id"}
        ),
    }
    counts: dict[str, int] = {}
    columns = [
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, disable=not progress) as bar, engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(t.name for t in TABLES)}"))
        # Secondary indexes and foreign keys are rebuilt and checked once after the rows, which
        # is much faster than row by row.
        indexes = [index for table in TABLES for index in table.indexes]
        foreign_keys = [fk for table in TABLES for fk in table.foreign_key_constraints]
        for fk in foreign_keys:
            conn.execute(sa.schema.DropConstraint(fk))
        for index in indexes:
            index.drop(conn)
        raw = conn.connection.driver_connection
        for table in TABLES:
            frame = sources[table.name]()
            task = bar.add_task(table.name, total=len(frame))
            for chunk_rows, text in _csv_chunks(frame, [c.name for c in table.columns]):
                with (
                    raw.cursor() as cursor,
                    cursor.copy(
                        f"COPY {table.name} ({', '.join(c.name for c in table.columns)}) FROM STDIN (FORMAT csv)"
                    ) as copy,
                ):
                    copy.write(text)
                bar.advance(task, chunk_rows)
            counts[table.name] = len(frame)
            del frame
        task = bar.add_task("indexes and keys", total=len(indexes) + len(foreign_keys))
        for index in indexes:
            index.create(conn)
            bar.advance(task)
        for fk in foreign_keys:
            conn.execute(sa.schema.AddConstraint(fk))
            bar.advance(task)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"ANALYZE {', '.join(t.name for t in TABLES)}"))
    counts["seconds"] = round(time.perf_counter() - start, 1)
    return counts


def _csv_chunks(frame: pd.DataFrame, columns: list[str]) -> Iterator[tuple[int, str]]:
    """CSV text of ``columns`` in chunks of :data:`CHUNK_ROWS` rows; geometries as hex EWKB."""
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = pd.DataFrame(frame.iloc[start : start + CHUNK_ROWS])
        if isinstance(frame, gpd.GeoDataFrame):
            geoms = shapely.set_srid(
                np.asarray(frame.geometry.values[start : start + CHUNK_ROWS]), SRID
            )
            chunk["geometry"] = shapely.to_wkb(geoms, hex=True, include_srid=True)
        buffer = io.StringIO()
        chunk[columns].to_csv(buffer, header=False, index=False)
        yield len(chunk), buffer.getvalue()
