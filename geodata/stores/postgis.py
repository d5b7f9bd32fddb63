"""The PostgreSQL/PostGIS store: everything in one database.

The database is prepared with ``geoalert db upgrade --db URL`` and filled with
``geoalert load --data DIR --db URL`` (:mod:`geodata.stores.load`). Layers are read with
``COPY ... TO STDOUT`` (several times faster than fetching rows) and cast to the world schema.
"""

from __future__ import annotations

import io

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from geodata.stores import migrate
from geodata.stores.base import BaseStore
from geodata.stores.schema import LAYER_KEYS, SRID, addresses, metadata

__all__ = ["PostgisStore", "copy_frame"]


class PostgisStore(BaseStore):
    """Store in a PostgreSQL database with PostGIS, at the newest schema revision.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, ``postgresql+psycopg://user@host:port/db``.
    metric_crs : str
        Projected CRS in metres used to match registered locations to addresses.

    Raises
    ------
    geodata.stores.migrate.SchemaOutdated
        When the database is not migrated to the newest revision.
    """

    name = "postgis"

    def __init__(self, url: str, metric_crs: str = "EPSG:3812"):
        engine = sa.create_engine(url, pool_pre_ping=True)
        if engine.dialect.name != "postgresql":
            raise ValueError(
                f"the PostGIS store needs a postgresql:// URL, not {engine.dialect.name}"
            )
        migrate.check_current(engine)
        super().__init__(engine, metric_crs)

    def _read_layer(self, layer: str) -> pd.DataFrame:
        table = metadata.tables[layer]
        columns = [c for c in table.c if c.name != "geometry"]
        if "geometry" not in table.c:
            return copy_frame(
                self.engine, sa.select(*columns).order_by(*(table.c[k] for k in LAYER_KEYS[layer]))
            )
        geometry = table.c.geometry
        if layer == "addresses":
            # Points travel as two floats: far less to send and parse than WKB.
            shape = [
                sa.func.ST_X(geometry, type_=sa.Double).label("_x"),
                sa.func.ST_Y(geometry, type_=sa.Double).label("_y"),
            ]
        else:
            shape = [
                sa.func.encode(sa.func.ST_AsBinary(geometry), "hex", type_=sa.String).label("_wkb")
            ]
        query = sa.select(*columns, *shape).order_by(*(table.c[k] for k in LAYER_KEYS[layer]))
        frame = copy_frame(self.engine, query)
        if layer == "addresses":
            geoms = shapely.points(frame.pop("_x").to_numpy(), frame.pop("_y").to_numpy())
        else:
            geoms = shapely.from_wkb(frame.pop("_wkb").to_numpy(object))
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=SRID)

    def _frame(self, query: sa.Select) -> pd.DataFrame:
        return copy_frame(self.engine, query)

    def _known_address_ids(self, ids: np.ndarray) -> np.ndarray:
        query = sa.select(addresses.c.address_id).where(
            addresses.c.address_id
            == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger)))
        )
        with self.engine.connect() as conn:
            found = np.fromiter(
                conn.execute(query, {"ids": [int(i) for i in ids]}).scalars(), dtype=np.int64
            )
        return np.isin(ids, found)

    def _addresses_in_boxes(self, lon: np.ndarray, lat: np.ndarray, half: float) -> pd.DataFrame:
        query = sa.text(
            "SELECT p.i - 1 AS i, a.address_id, ST_X(a.geometry) AS lon, ST_Y(a.geometry) AS lat "
            "FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(lon, lat, i) "
            "JOIN addresses a ON a.geometry && "
            "ST_MakeEnvelope(p.lon - :half, p.lat - :half, p.lon + :half, p.lat + :half, 4326)"
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                query, {"lon": lon.tolist(), "lat": lat.tolist(), "half": half}
            ).all()
        return pd.DataFrame(rows, columns=["i", "address_id", "lon", "lat"]).astype(
            {"i": np.int64, "address_id": np.int64, "lon": float, "lat": float}
        )


def copy_frame(engine: sa.Engine, query: sa.Select) -> pd.DataFrame:
    """Result of a parameterless query read with ``COPY ... TO STDOUT (FORMAT csv)``.

    Column dtypes follow the query's SQL types: integers int64, floats float64, booleans
    bool, everything else strings (timestamps as text in UTC).
    """
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    names, dtypes = [], {}
    for column in query.selected_columns:
        names.append(column.name)
        kind = column.type
        if isinstance(kind, sa.Boolean):
            dtypes[column.name] = bool
        elif isinstance(kind, sa.Integer):
            dtypes[column.name] = np.int64
        elif isinstance(kind, sa.Float):
            dtypes[column.name] = np.float64
        else:
            dtypes[column.name] = object
    buffer = io.BytesIO()
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor:
            cursor.execute("SET LOCAL TimeZone = 'UTC'")
            with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
                for chunk in copy:
                    buffer.write(chunk)
    buffer.seek(0)
    if buffer.getbuffer().nbytes == 0:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    return pd.read_csv(
        buffer,
        names=names,
        header=None,
        dtype=dtypes,
        true_values=["t"],
        false_values=["f"],
        keep_default_na=False,
        na_values=[""],
    )
