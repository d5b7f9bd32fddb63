"""Reading the layers of a world directory (``geoalert demo-data`` output) as the world schema."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from geodata.stores.schema import WORLD_DTYPES, conform

__all__ = ["GEOMETRY_LAYERS", "explode_lists", "read_world_layer", "world_file"]

#: Layers stored as GeoParquet (EPSG:4326); the others are plain Parquet.
GEOMETRY_LAYERS = ("areas", "cells", "addresses")


class WorldFileMissing(FileNotFoundError):
    """A layer file of the world directory is missing."""


def world_file(data_dir: str | Path, layer: str) -> Path:
    """Path of a layer's Parquet file in a world directory.

    Raises
    ------
    WorldFileMissing
    """
    path = Path(data_dir) / f"{layer}.parquet"
    if not path.is_file():
        raise WorldFileMissing(
            f"world file {path} is missing (build a world with 'geoalert demo-data')"
        )
    return path


def read_world_layer(data_dir: str | Path, layer: str) -> pd.DataFrame:
    """One layer of a world directory, cast to the world schema and sorted by key.

    Parameters
    ----------
    data_dir : path
        World directory.
    layer : str
        ``areas``, ``cells``, ``addresses`` (GeoDataFrames, EPSG:4326), ``presence``,
        ``contacts`` or ``groups``.

    Raises
    ------
    WorldFileMissing
    ValueError
        A column of the schema is missing, or a geometry layer is not in EPSG:4326.
    """
    if layer not in WORLD_DTYPES:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(WORLD_DTYPES)}")
    path = world_file(data_dir, layer)
    if layer in GEOMETRY_LAYERS:
        frame = gpd.read_parquet(path)
        if frame.crs is None or frame.crs.to_epsg() != 4326:
            raise ValueError(f"{path}: CRS is {frame.crs}, expected EPSG:4326")
    else:
        frame = pq.read_table(path).to_pandas()
    return conform(frame, layer)


def explode_lists(frame: pd.DataFrame, key: str, lists: list[str]) -> pd.DataFrame:
    """One row per list element: ``key``, ``position`` (0-based) and the ``lists`` columns.

    The inverse of :func:`geodata.stores.schema.list_column`; lists of one row must have
    equal lengths.
    """
    lengths = np.fromiter((len(v) for v in frame[lists[0]]), dtype=np.int64, count=len(frame))
    starts = np.cumsum(lengths) - lengths
    out = {
        key: np.repeat(frame[key].to_numpy(), lengths),
        "position": np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths),
    }
    for column in lists:
        values = frame[column].to_numpy()
        out[column] = np.concatenate(values) if len(values) else np.empty(0)
    return pd.DataFrame(out)
