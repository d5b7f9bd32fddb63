"""Deterministic (Geo)Parquet writers for the demo world.

Every file is written with fixed writer options, so the same data always gives the same bytes,
and first to a temporary name then renamed, so a failed build never leaves a half-written file.
Points are stored with the GeoParquet 1.1 native ``point`` encoding (a struct of ``x``/``y``
doubles), which writes and reads much faster than WKB; polygons as WKB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj

# Fixed writer options: zstd level 3, one row group per million rows, statistics on.
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "row_group_size": 1 << 20}

_CRS_JSON = pyproj.CRS("EPSG:4326").to_json_dict()
_POINT_TYPE = pa.struct(
    [pa.field("x", pa.float64(), nullable=False), pa.field("y", pa.float64(), nullable=False)]
)


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a frame to Parquet, a GeoDataFrame to GeoParquet (points native, others WKB).

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Written without its index. A GeoDataFrame must carry a CRS.
    path : str or Path
        Destination file, replaced atomically.
    """
    with _atomic(Path(path)) as tmp:
        if isinstance(frame, gpd.GeoDataFrame):
            if frame.crs is None:
                raise ValueError(f"{Path(path).name}: the GeoDataFrame has no CRS")
            points = len(frame) > 0 and bool((frame.geom_type == "Point").all())
            frame.to_parquet(
                tmp,
                index=False,
                geometry_encoding="geoarrow" if points else "WKB",
                **PARQUET_OPTIONS,
            )
        else:
            # No pandas metadata: list columns then read back as plain object columns.
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata()
            pq.write_table(table, tmp, **PARQUET_OPTIONS)


class PointWriter:
    """Stream rows with a Point geometry (lon/lat, EPSG:4326) into one GeoParquet file.

    Use as a context manager; each :meth:`write` call appends whole row groups, so memory stays
    bounded by one call's arrays. The file appears under its name only when the block succeeds.

    Parameters
    ----------
    path : str or Path
        Destination GeoParquet file.
    schema : pyarrow.Schema
        The non-geometry columns, in order; ``geometry`` is appended last.
    """

    def __init__(self, path: str | Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        geo = {
            "version": "1.1.0",
            "primary_column": "geometry",
            "columns": {
                "geometry": {
                    "encoding": "point",
                    "geometry_types": ["Point"],
                    "crs": _CRS_JSON,
                }
            },
        }
        field = pa.field(
            "geometry",
            _POINT_TYPE,
            nullable=False,
            metadata={
                "ARROW:extension:name": "geoarrow.point",
                "ARROW:extension:metadata": json.dumps({"crs": _CRS_JSON}),
            },
        )
        self.schema = schema.append(field).with_metadata({"geo": json.dumps(geo)})
        self.rows = 0

    def __enter__(self) -> PointWriter:
        self._atomic = _atomic(self.path)
        tmp = self._atomic.__enter__()
        options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
        self._writer = pq.ParquetWriter(tmp, self.schema, **options)
        return self

    def write(
        self, columns: dict[str, np.ndarray | pa.Array], lon: np.ndarray, lat: np.ndarray
    ) -> None:
        """Append rows: ``columns`` by name (as in the schema), ``lon``/``lat`` in degrees."""
        geometry = pa.StructArray.from_arrays(
            [pa.array(lon, pa.float64()), pa.array(lat, pa.float64())], fields=list(_POINT_TYPE)
        )
        arrays = [pa.array(columns[f.name], f.type) for f in self.schema if f.name != "geometry"]
        table = pa.Table.from_arrays([*arrays, geometry], schema=self.schema)
        self._writer.write_table(table, row_group_size=PARQUET_OPTIONS["row_group_size"])
        self.rows += len(table)

    def __exit__(self, *exc) -> None:
        self._writer.close()
        self._atomic.__exit__(*exc)
