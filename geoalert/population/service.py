"""The population part of a resolution: what the engine calls for ``include=["population"]``.

:class:`PresentPopulation` owns the raw :class:`~geoalert.population.index.PopulationIndex`
and publishes only through :class:`~geoalert.population.privacy.Publisher`: there is no
method that returns an unpublished number.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from shapely.geometry.base import BaseGeometry

from cells.presence import BUCKET_LENGTH, presence_from_frame
from geoalert.population.grid import interval_sums
from geoalert.population.index import PopulationIndex
from geoalert.population.intervals import IntervalModel
from geoalert.population.privacy import NoiseField, Publisher


class PresentPopulation:
    """Published estimates of the people present in a zone.

    Parameters
    ----------
    index : PopulationIndex
    k : int
        k-anonymity threshold (``geoalert.settings.k_anonymity``).
    secret : bytes, optional
        Key of the consistent noise. By default a hash of the presence counts themselves:
        stable for one world, unknown to whoever does not hold the operators' data.
    level : float
        Share of the truths the interval is meant to cover.
    operator_names : dict of MNC to name, optional
    noise_sd : float, optional
        Standard deviation in people of the noise of each tile (``k`` by default).
    """

    def __init__(
        self,
        index: PopulationIndex,
        *,
        k: int,
        secret: bytes | None = None,
        level: float = 0.9,
        operator_names: dict[str, str] | None = None,
        noise_sd: float | None = None,
    ) -> None:
        self._index = index
        self.operator_names = {mnc: (operator_names or {}).get(mnc, mnc) for mnc in self.operators}
        if secret is None:
            digest = hashlib.sha256(index.presence.domestic.tobytes())
            digest.update(index.presence.roaming.tobytes())
            secret = digest.digest()
        self._publisher = Publisher(k=k, interval=IntervalModel(level=level))
        self._noise = NoiseField(index.plan.grid, secret, sd=k if noise_sd is None else noise_sd)

    @classmethod
    def load(cls, store, settings) -> PresentPopulation:
        """Build from a world store (``geodata.stores``) with the engine's settings.

        Reads the cells, addresses, areas and presence of the store, and the bucket length
        from the world's ``manifest.json`` when the store has a directory; never the truth.
        """
        cells = store.read_cells()
        bucket_length = BUCKET_LENGTH
        manifest = Path(getattr(store, "data_dir", "")) / "manifest.json"
        if manifest.is_file():
            stated = json.loads(manifest.read_text()).get("buckets", {}).get("length")
            bucket_length = pd.Timedelta(stated) if stated else BUCKET_LENGTH
        presence = presence_from_frame(
            store.read_presence(), cells["cell_id"].to_numpy(dtype=object), bucket_length
        )
        xy = _address_xy(store)
        areas = store.read_areas()
        index = PopulationIndex.build(
            cells,
            xy[:, 0],
            xy[:, 1],
            presence,
            areas[areas["level"] == "municipality"],
            metric_crs=settings.metric_crs,
            method=settings.population_method,
            tile_m=settings.population_tile_m,
        )
        secret = settings.population_secret
        return cls(
            index,
            k=settings.k_anonymity,
            secret=secret.encode() if secret else None,
            level=settings.population_interval_level,
            operator_names=dict(zip(cells["operator"], cells["operator_name"], strict=True)),
        ).warm()

    def warm(self) -> PresentPopulation:
        """Build now, rather than at the first question, the per-bucket densities of the
        default and reference methods and the noise of every bucket."""
        index = self._index
        for method in (index.method, index.reference):
            index.prefix(method)
        index.plan.forget()
        for t in index.times:
            self._noise.prefix(t.isoformat())
        return self

    @property
    def times(self):
        """Bucket starts of the presence feed (tz Europe/Brussels)."""
        return self._index.times

    @property
    def operators(self) -> tuple[str, ...]:
        """MNCs of the world's operators."""
        return self._index.plan.operators

    def bucket(self, at=None) -> int:
        """Index of the bucket holding ``at`` (default the latest); raises ``AtError``."""
        return self._index.bucket(at)

    def resolve(
        self,
        zone: BaseGeometry,
        at=None,
        *,
        operators: list[str] | None = None,
        method: str | None = None,
    ) -> dict:
        """The published ``"population"`` of a zone.

        Parameters
        ----------
        zone : Polygon or MultiPolygon in EPSG:4326
        at : ISO 8601 text or datetime, optional
            Any time inside the wanted bucket; the latest bucket by default.
        operators : list of MNC, optional
            Operators whose device counts to break down (all by default); the estimate
            itself always uses every operator's devices.
        method : str, optional
            An estimator of ``geoalert.population.index.ESTIMATORS``; the default otherwise.

        Returns
        -------
        dict
            See :meth:`geoalert.population.privacy.Publisher.publish`.
        """
        index = self._index
        bucket = index.bucket(at)
        cut = index.cut(zone)
        raw = index.estimate(cut, at, method)
        noise_prefix = self._noise.prefix(raw.at.isoformat())
        noise = float(interval_sums(index.plan.grid, noise_prefix, cut.fine)[0])
        shown = {
            mnc: name
            for mnc, name in self.operator_names.items()
            if operators is None or mnc in operators
        }
        positions = [self.operators.index(mnc) for mnc in shown]
        return self._publisher.publish(
            replace(raw, devices=raw.devices[positions]),
            noise,
            self._noise.variance(cut.area_m2),
            index.calibration.devices_per_person[bucket],
            shown,
        )


def _address_xy(store) -> np.ndarray:
    """Lon/lat of every address, shape (n, 2): straight from the GeoParquet file of an
    embedded world when its points are stored natively (no shapely objects), otherwise from
    the store's address frame."""
    path = Path(getattr(store, "data_dir", "")) / "addresses.parquet"
    if path.is_file():
        column = pq.read_table(path, columns=["geometry"]).column("geometry")
        if pa.types.is_struct(column.type):
            chunks = column.combine_chunks()
            return np.column_stack(
                [chunks.field("x").to_numpy(), chunks.field("y").to_numpy()]
            ).astype(np.float64)
    return shapely.get_coordinates(np.asarray(store.read_addresses().geometry.values))
