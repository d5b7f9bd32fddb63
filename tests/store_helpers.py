"""Helpers for the store tests (fixtures ``tiny_world`` and ``store`` are in conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.stores import BaseStore

#: Parameters for tests that run on each backend.
BACKENDS = ["embedded", pytest.param("postgis", marks=pytest.mark.postgis)]


def world_copy(world: Path, tmp_path: Path) -> Path:
    """A private copy of a world's files."""
    out = tmp_path / "world"
    shutil.copytree(world, out)
    return out


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame whose array cells became lists and geometries WKB, for assert_frame_equal."""
    out = pd.DataFrame(frame).copy()
    for column in out.columns:
        values = out[column]
        if str(values.dtype) == "geometry":
            out[column] = shapely.to_wkb(np.asarray(values.values))
        elif values.dtype == object and len(values) and isinstance(values.iloc[0], np.ndarray):
            out[column] = values.map(list)
    return out


def count_contacts(store: BaseStore) -> int:
    return len(store.read_contacts())
