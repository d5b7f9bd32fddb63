"""The population part of a resolution: what the engine calls for ``include=["population"]``.

:class:`PresentPopulation` owns the raw :class:`~geoalert.population.index.PopulationIndex`
and publishes only through :class:`~geoalert.population.privacy.Publisher`: there is no
method that returns an unpublished number.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from shapely.geometry.base import BaseGeometry

from geoalert.population.index import PopulationIndex
from geoalert.population.intervals import IntervalModel
from geoalert.population.privacy import NoiseField, Publisher

OPERATOR_NAMES = {"01": "Proximus", "10": "Orange Belgium", "20": "Telenet/BASE"}


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
    """

    def __init__(
        self, index: PopulationIndex, *, k: int, secret: bytes | None = None, level: float = 0.9
    ) -> None:
        self._index = index
        if secret is None:
            digest = hashlib.sha256(index.presence.domestic.tobytes())
            digest.update(index.presence.roaming.tobytes())
            secret = digest.digest()
        self._publisher = Publisher(k=k, secret=secret, interval=IntervalModel(level=level))
        self._noise = NoiseField(index.plan.grid, secret, sd=k)

    @classmethod
    def open(cls, data_dir: str | Path, settings=None) -> PresentPopulation:
        """Open a world directory with the engine's settings (``geoalert.settings``)."""
        from geoalert.settings import get_settings

        settings = settings or get_settings()
        index = PopulationIndex.open(
            data_dir,
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
        )

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
        noise = float(index.zone_sums(index.plan.grid, noise_prefix, cut)[0])
        shown = {
            mnc: OPERATOR_NAMES.get(mnc, mnc)
            for mnc in self.operators
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
