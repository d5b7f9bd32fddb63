"""The store interface shared by the embedded store and PostGIS.

A store holds one world: reference geography (areas, cells, addresses, presence), registered
contacts and groups, API keys and the audit log. Every store answers the same calls with the
same results; they differ only in where reference geography lives (GeoParquet files or PostGIS
tables), which subclasses say by implementing the abstract methods of :class:`BaseStore`.
Contacts, groups, keys and audit are implemented once here, on SQLAlchemy Core over the one
schema of :mod:`geodata.stores.schema`.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from pyproj import Transformer

from geodata.stores.access import AccessMixin
from geodata.stores.contacts import ContactsMixin
from geodata.stores.groups import GroupsMixin
from geodata.stores.schema import conform

__all__ = ["BaseStore"]


class BaseStore(ContactsMixin, GroupsMixin, AccessMixin, abc.ABC):
    """One world's data, behind the same calls for every backend.

    Read side (used by the engine; frames exactly as in the world schema, sorted by key):
    :meth:`read_areas`, :meth:`read_cells`, :meth:`read_addresses`, :meth:`read_presence`,
    :meth:`read_contacts`, :meth:`read_groups`.

    Registrations: :meth:`get_contact`, :meth:`register_contact`, :meth:`update_contact`,
    :meth:`unregister_contact`, :meth:`import_contacts`. Groups: :meth:`get_group`,
    :meth:`group_members`, :meth:`create_group`, :meth:`update_group`. API keys:
    :meth:`add_key`, :meth:`find_key_by_hash`, :meth:`list_keys`, :meth:`revoke_key`. Audit:
    :meth:`append_audit`, :meth:`read_audit`.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Database of the registration and service tables.
    metric_crs : str
        Projected CRS in metres used to match registered locations to addresses.
    """

    #: Short name of the backend in :data:`geodata.stores.STORES`.
    name: ClassVar[str]

    def __init__(self, engine: sa.Engine, metric_crs: str = "EPSG:3812"):
        self.engine = engine
        self.metric_crs = metric_crs
        self._municipalities: shapely.STRtree | None = None
        self._area_code_set: set[str] | None = None
        self._to_metric = Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)

    # -- reference geography -------------------------------------------------------------

    def read_areas(self) -> gpd.GeoDataFrame:
        """Administrative areas (regions, provinces, municipalities), EPSG:4326, sorted by code."""
        return conform(self._read_layer("areas"), "areas")

    def read_cells(self) -> gpd.GeoDataFrame:
        """Mobile network cells with coverage polygons, EPSG:4326, sorted by ``cell_id``."""
        return conform(self._read_layer("cells"), "cells")

    def read_addresses(self) -> gpd.GeoDataFrame:
        """Address points with their municipality, EPSG:4326, sorted by ``address_id``."""
        return conform(self._read_layer("addresses"), "addresses")

    def read_presence(self) -> pd.DataFrame:
        """Operators' device counts per cell, time bucket and home MCC, sorted by those keys."""
        return conform(self._read_layer("presence"), "presence")

    @abc.abstractmethod
    def _read_layer(self, layer: str) -> pd.DataFrame:
        """One reference layer (``areas``, ``cells``, ``addresses``, ``presence``) as stored."""

    @abc.abstractmethod
    def _known_address_ids(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask of the ``ids`` (int64, shape (n,)) that are known addresses."""

    @abc.abstractmethod
    def _addresses_in_boxes(self, lon: np.ndarray, lat: np.ndarray, half: float) -> pd.DataFrame:
        """Addresses whose point lies in the box ``[lon-half, lon+half] x [lat-half, lat+half]``
        (degrees) around any of the points, as a frame ``i`` (position of the point),
        ``address_id``, ``lon``, ``lat``."""

    # -- helpers shared by the mixins ------------------------------------------------------

    def _in_country(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Boolean mask of the points covered by a municipality (boundary included)."""
        if self._municipalities is None:
            areas = self._read_layer("areas")
            geoms = areas.geometry.values[np.asarray(areas["level"] == "municipality")]
            self._municipalities = shapely.STRtree(np.asarray(geoms))
        points = shapely.points(lon, lat)
        hit = self._municipalities.query(points, predicate="covered_by")[0]
        inside = np.zeros(len(points), dtype=bool)
        inside[hit] = True
        return inside

    def _nearest_addresses(self, lon: np.ndarray, lat: np.ndarray, radius_m: float) -> np.ndarray:
        """Id of the nearest known address within ``radius_m`` (metric CRS) of each point, or -1.

        Ties go to the smallest address id.
        """
        result = np.full(len(lon), -1, dtype=np.int64)
        if len(lon) == 0:
            return result
        # Degrees of longitude shrink towards the poles: size the search box for the worst latitude.
        cos_lat = np.cos(np.radians(min(89.0, float(np.max(np.abs(lat))) + 1.0)))
        half = 1.01 * radius_m / (111_320.0 * cos_lat)
        cand = self._addresses_in_boxes(np.asarray(lon, float), np.asarray(lat, float), half)
        if cand.empty:
            return result
        i = cand["i"].to_numpy()
        px, py = self._to_metric.transform(np.asarray(lon, float)[i], np.asarray(lat, float)[i])
        cx, cy = self._to_metric.transform(cand["lon"].to_numpy(), cand["lat"].to_numpy())
        d = np.hypot(cx - px, cy - py)
        ids = cand["address_id"].to_numpy()
        keep = d <= radius_m
        order = np.lexsort((ids[keep], d[keep], i[keep]))
        first = np.unique(i[keep][order], return_index=True)
        result[first[0]] = ids[keep][order][first[1]]
        return result

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
