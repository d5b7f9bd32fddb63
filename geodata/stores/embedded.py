"""The embedded store: the world's GeoParquet files plus SQLite, no server.

Reference geography is read from the world directory's GeoParquet files. Contacts, groups,
API keys and the audit log live in ``store.sqlite`` in the same directory, created on first
open from the world's ``contacts.parquet`` and ``groups.parquet``; from then on the SQLite
file is the register (registrations, updates and removals go there, the Parquet files are
left as built).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from scipy.spatial import cKDTree

from geodata.stores import migrate
from geodata.stores.base import BaseStore
from geodata.stores.schema import contact_addresses, contacts, group_members, groups
from geodata.stores.world import explode_lists, read_world_layer, world_file

__all__ = ["STORE_FILE", "EmbeddedStore"]

log = logging.getLogger("geodata.stores")

STORE_FILE = "store.sqlite"


def _sqlite_engine(path: Path, *, building: bool = False) -> sa.Engine:
    """Engine of a store file; ``building`` for a new file not yet in place (no journal, no
    sync: a failed build is thrown away)."""
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        # Removed personal data is overwritten, not left in free pages.
        cursor.execute("PRAGMA secure_delete = ON")
        if building:
            cursor.execute("PRAGMA journal_mode = OFF")
            cursor.execute("PRAGMA synchronous = OFF")
        else:
            # WAL with NORMAL sync: commits survive a crash of the process (not a power cut
            # in the last moments) and cost no fsync each: ~8x more audit appends per second.
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    return engine


class EmbeddedStore(BaseStore):
    """Store of a world directory: GeoParquet files and ``store.sqlite``.

    Parameters
    ----------
    data_dir : path
        World directory written by ``geoalert demo-data``.
    metric_crs : str
        Projected CRS in metres used to match registered locations to addresses.
    """

    name = "embedded"

    def __init__(self, data_dir: str | os.PathLike[str], metric_crs: str = "EPSG:3812"):
        self.data_dir = Path(data_dir)
        if not self.data_dir.is_dir():
            raise FileNotFoundError(f"world directory {self.data_dir} does not exist")
        path = self.data_dir / STORE_FILE
        if not path.exists():
            _create(path, self.data_dir)
        engine = _sqlite_engine(path)
        if migrate.current(engine) != migrate.head():
            migrate.upgrade(engine)
        super().__init__(engine, metric_crs)
        self._address_ids: np.ndarray | None = None
        self._tree: tuple[cKDTree, np.ndarray, np.ndarray] | None = None

    def _read_layer(self, layer: str) -> pd.DataFrame:
        return read_world_layer(self.data_dir, layer)

    def _sorted_address_ids(self) -> np.ndarray:
        """Every address id, ascending (cached; only that column is read)."""
        if self._address_ids is None:
            ids = pq.read_table(world_file(self.data_dir, "addresses"), columns=["address_id"])
            self._address_ids = np.sort(ids.column(0).to_numpy())
        return self._address_ids

    def _address_tree(self) -> tuple[cKDTree, np.ndarray, np.ndarray]:
        """A k-d tree of the address points (lon, lat), the points and their ids (cached)."""
        if self._tree is None:
            addresses = self._read_layer("addresses")
            xy = np.column_stack([addresses.geometry.x.to_numpy(), addresses.geometry.y.to_numpy()])
            self._tree = (cKDTree(xy), xy, addresses["address_id"].to_numpy())
        return self._tree

    def _known_address_ids(self, ids: np.ndarray) -> np.ndarray:
        known = self._sorted_address_ids()
        if len(known) == 0:
            return np.zeros(len(ids), dtype=bool)
        pos = np.clip(np.searchsorted(known, ids), 0, len(known) - 1)
        return known[pos] == ids

    def _addresses_in_boxes(self, lon: np.ndarray, lat: np.ndarray, half: float) -> pd.DataFrame:
        tree, xy, ids = self._address_tree()
        hits = tree.query_ball_point(np.column_stack([lon, lat]), r=half, p=np.inf)
        i = np.repeat(np.arange(len(lon)), [len(h) for h in hits])
        j = np.fromiter((k for h in hits for k in h), dtype=np.int64, count=len(i))
        return pd.DataFrame({"i": i, "address_id": ids[j], "lon": xy[j, 0], "lat": xy[j, 1]})


def _create(path: Path, data_dir: Path) -> None:
    """Make ``store.sqlite`` at its newest schema, seeded with the world's contacts and groups.

    Built under a temporary name and linked into place, so that a failure leaves no file and
    two processes opening a new world at once end up with one store.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        engine = _sqlite_engine(tmp, building=True)
        migrate.upgrade(engine)
        with engine.begin() as conn:
            counts = _seed(conn, data_dir)
        engine.dispose()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
            log.info("created %s with %d contacts and %d groups", path, *counts)
    finally:
        tmp.unlink(missing_ok=True)


def _seed(conn: sa.Connection, data_dir: Path) -> tuple[int, int]:
    """Copy the world's contacts and groups (when it has them) into the store's tables."""
    n_contacts = n_groups = 0
    tables = (contacts, contact_addresses, groups, group_members)
    # Indexes are built faster once, after the rows, than row by row.
    indexes = [index for table in tables for index in table.indexes]
    for index in indexes:
        index.drop(conn)
    if (data_dir / "contacts.parquet").is_file():
        people = read_world_layer(data_dir, "contacts")
        links = explode_lists(people, "contact_id", ["address_ids", "address_labels"])
        _insert_frame(conn, contacts, people)
        links = links.rename(columns={"address_ids": "address_id", "address_labels": "label"})
        _insert_frame(conn, contact_addresses, links)
        n_contacts = len(people)
    if (data_dir / "groups.parquet").is_file():
        frame = read_world_layer(data_dir, "groups")
        members = explode_lists(frame, "group_id", ["contact_ids"]).rename(
            columns={"contact_ids": "contact_id"}
        )
        _insert_frame(conn, groups, frame)
        _insert_frame(conn, group_members, members)
        n_groups = len(frame)
    for index in indexes:
        index.create(conn)
    return n_contacts, n_groups


def _insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert the table's columns of ``frame`` in one driver-level executemany."""
    columns = [c.name for c in table.columns]
    rows = (
        frame[columns]
        .astype(object)
        .where(frame[columns].notna(), None)
        .itertuples(index=False, name=None)
    )
    placeholders = ", ".join("?" * len(columns))
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", list(rows)
    )
