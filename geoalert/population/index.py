"""Present population per zone: devices per cell spread over tiles, summed along scanlines.

At open, each estimator's allocation ``P(tile | cell)`` is computed once; per time bucket the
devices of every cell are spread over the grid and kept as row-wise prefix sums (one series
per operator plus roaming devices). A zone then costs its boundary: the crossings of its
edges with the grid's rows, whatever its size.

The numbers here are raw: :mod:`geoalert.population.privacy` is the only way out of the
package, and it rounds, perturbs and suppresses them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from cells.presence import TIMEZONE, Presence
from geoalert.population.allocation import (
    Allocation,
    BestServer,
    Blend,
    CellPlan,
    Estimator,
    SignalPrior,
)
from geoalert.population.calibration import Calibration, at_home_reference, residents_in
from geoalert.population.grid import (
    Grid,
    Intervals,
    interval_sums,
    polygon_edges,
    row_prefix_sums,
    zone_intervals,
)
from geoalert.zones import ZoneError

#: The estimators offered, by name. The default is chosen in ``geoalert.settings``.
ESTIMATORS: dict[str, Estimator] = {
    "best_server": BestServer(prior="area"),
    "best_server_addresses": BestServer(prior="addresses"),
    "signal_prior": SignalPrior(prior="addresses"),
}
# A quarter best server, three quarters signal prior: the mix with the smallest errors on the
# sample world (small circles and the 90th percentile most), confirmed on the national one.
ESTIMATORS["blend"] = Blend(
    ESTIMATORS["best_server_addresses"], ESTIMATORS["signal_prior"], share=0.25
)

#: Roaming devices by home country are located on tiles this many times coarser.
COUNTRY_TILE_FACTOR = 10


@dataclass(frozen=True)
class ZoneCut:
    """A zone ready for sums: its area (m²) and where its scanlines run inside it on the
    fine grid and on the coarser grid of roaming devices by country."""

    area_m2: float
    fine: Intervals
    coarse: Intervals


class AtError(ZoneError):
    """An ``at`` that is not a timestamp, or falls in no time bucket of the presence data.

    A bad resolve option, like an unknown operator: a :class:`~geoalert.zones.ZoneError`.
    """


@dataclass(frozen=True)
class RawEstimate:
    """Unpublished estimate of the people present in one zone in one bucket.

    Attributes
    ----------
    at : Timestamp
        Start of the bucket.
    people : float
        Estimate of the people present, by the chosen method.
    operator_people : float64 array, shape (n_operators,)
        The same estimate from each operator's devices alone (its own market share).
    alternative : float
        The estimate by the reference method (for the spread between methods).
    devices : float64 array, shape (n_operators,)
        Devices (domestic and roaming) of each operator estimated in the zone.
    roamers : dict of int to float
        People with a foreign SIM per home MCC.
    method : dict
        The estimator's name, parameters and id.
    """

    at: pd.Timestamp
    people: float
    operator_people: np.ndarray
    alternative: float
    devices: np.ndarray
    roamers: dict[int, float]
    method: dict


class PopulationIndex:
    """Estimates of the people present in any zone, per time bucket of the presence feed.

    Build with :meth:`build`.
    """

    def __init__(
        self,
        plan: CellPlan,
        presence: Presence,
        calibration: Calibration,
        *,
        metric_crs: str,
        method: str,
        reference: str = "best_server_addresses",
    ) -> None:
        for name in (method, reference):
            if name not in ESTIMATORS:
                raise ValueError(
                    f"unknown population method {name!r}; expected one of {sorted(ESTIMATORS)}"
                )
        self.plan = plan
        self.metric_crs = metric_crs
        self.presence = presence
        self.calibration = calibration
        self.method = method
        self.reference = reference
        self._to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)
        self._prefix: dict[str, np.ndarray] = {}
        self._country_prefix: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        cells,
        address_lon: np.ndarray,
        address_lat: np.ndarray,
        presence: Presence,
        municipalities,
        *,
        metric_crs: str,
        method: str,
        tile_m: float,
    ) -> PopulationIndex:
        """Build from loaded data.

        Parameters
        ----------
        cells : GeoDataFrame, ``cells.parquet`` schema, in the order of ``presence``'s arrays
        address_lon, address_lat : arrays of degrees (EPSG:4326)
        presence : Presence aligned with ``cells``
        municipalities : GeoDataFrame of the world's municipalities (for its residents)
        metric_crs, method, tile_m : see ``geoalert.settings``
        """
        from geodata import priors

        plan = CellPlan.build(cells, address_lon, address_lat, metric_crs=metric_crs, tile_m=tile_m)
        calibration = Calibration.from_counts(
            presence.domestic,
            presence.roaming.sum(axis=2),
            plan.operator,
            len(plan.operators),
            residents_in(municipalities, priors.grid()),
            reference=at_home_reference(presence.times),
        )
        return cls(plan, presence, calibration, metric_crs=metric_crs, method=method)

    # -- time buckets ---------------------------------------------------------------------

    @property
    def times(self) -> pd.DatetimeIndex:
        return self.presence.times

    def bucket(self, at: str | dt.datetime | pd.Timestamp | None = None) -> int:
        """Index of the bucket holding ``at`` (ISO 8601 text or datetime; default the latest).

        A naive ``at`` is read in Europe/Brussels time.

        Raises
        ------
        AtError
            ``at`` is not a timestamp, or no bucket holds it.
        """
        if at is None:
            return len(self.times) - 1
        try:
            when = pd.Timestamp(at)
        except (TypeError, ValueError) as exc:
            raise AtError(f"at={at!r} is not an ISO 8601 timestamp") from exc
        if when is pd.NaT:
            raise AtError(f"at={at!r} is not an ISO 8601 timestamp")
        when = when.tz_localize(TIMEZONE) if when.tzinfo is None else when.tz_convert(TIMEZONE)
        i = self.presence.bucket_at(when)
        if i < 0:
            hours = self.presence.bucket_length / pd.Timedelta(hours=1)
            known = ", ".join(t.isoformat() for t in self.times)
            raise AtError(
                f"at={when.isoformat()} falls in no presence time bucket; buckets start at "
                f"{known} and last {hours:g} h each"
            )
        return i

    # -- per-bucket densities -------------------------------------------------------------

    def _cell_series(self, bucket: int) -> np.ndarray:
        """Devices per cell, shape (n_cells, n_operators + 1): each operator's devices (domestic
        and roaming) in its own column, then the roaming devices of all operators."""
        plan = self.plan
        roaming = self.presence.roaming[bucket].sum(axis=1)
        values = np.zeros((plan.n_cells, len(plan.operators) + 1))
        values[np.arange(plan.n_cells), plan.operator] = self.presence.domestic[bucket] + roaming
        values[:, -1] = roaming
        return values

    def prefix(self, method: str) -> np.ndarray:
        """Row prefix sums of devices per tile by ``method``, every bucket, shape
        (t, ny, nx + 1, n_operators + 1) (float32); built on first use."""
        if method not in self._prefix:
            grid = self.plan.grid
            alloc = ESTIMATORS[method].allocation(self.plan)
            self._prefix[method] = np.stack(
                [
                    row_prefix_sums(
                        alloc.spread(self._cell_series(b), grid.n_tiles).reshape(
                            -1, grid.ny, grid.nx
                        )
                    ).astype(np.float32)
                    for b in range(len(self.times))
                ]
            )
            if method == self.method:
                self._country_prefix = self._by_country(alloc)
        return self._prefix[method]

    @cached_property
    def country_grid(self) -> Grid:
        """Tiles :data:`COUNTRY_TILE_FACTOR` times coarser, for roaming devices by country."""
        g = self.plan.grid
        f = COUNTRY_TILE_FACTOR
        return Grid(g.x0, g.y0, g.size * f, -(-g.nx // f), -(-g.ny // f))

    def country_prefix(self) -> np.ndarray:
        """Row prefix sums of roaming devices per home MCC on :attr:`country_grid`, by the
        default method, every bucket: shape (t, ny, nx + 1, n_mcc)."""
        if self._country_prefix is None:
            self.prefix(self.method)
        return self._country_prefix

    def _by_country(self, alloc: Allocation) -> np.ndarray:
        grid, coarse = self.plan.grid, self.country_grid
        row, col = np.divmod(alloc.tile, grid.nx)
        tile = (row // COUNTRY_TILE_FACTOR) * coarse.nx + col // COUNTRY_TILE_FACTOR
        coarse_alloc = Allocation(alloc.cell, tile, alloc.weight)
        return np.stack(
            [
                row_prefix_sums(
                    coarse_alloc.spread(self.presence.roaming[b], coarse.n_tiles).reshape(
                        -1, coarse.ny, coarse.nx
                    )
                )
                for b in range(len(self.times))
            ]
        )

    # -- zones ----------------------------------------------------------------------------

    def cut(self, zone: BaseGeometry) -> ZoneCut:
        """A zone (Polygon/MultiPolygon, EPSG:4326) ready for sums over the grids.

        Small zones are sampled with more scanlines per row of tiles (up to 32), so that a
        zone is crossed by at least about 64 lines.
        """
        metric = shapely.transform(zone, self._to_metric.transform, interleaved=False)
        edges, _ = polygon_edges(np.array([metric]))
        ys = edges[:, [1, 3]]
        height = max(float(ys.max() - ys.min()) if len(ys) else 0.0, 1.0)

        def intervals(grid: Grid) -> Intervals:
            lines = int(np.clip(np.ceil(64 * grid.size / height), 2, 32))
            return zone_intervals(grid, edges, lines)

        return ZoneCut(
            float(shapely.area(metric)), intervals(self.plan.grid), intervals(self.country_grid)
        )

    def estimate(
        self, zone: BaseGeometry | ZoneCut, at=None, method: str | None = None
    ) -> RawEstimate:
        """Raw estimate of the people present in a zone (Polygon/MultiPolygon, EPSG:4326,
        or its :meth:`cut`) in the bucket holding ``at``."""
        method = method or self.method
        if method not in ESTIMATORS:
            raise ValueError(
                f"unknown population method {method!r}; expected one of {sorted(ESTIMATORS)}"
            )
        bucket = self.bucket(at)
        cut = zone if isinstance(zone, ZoneCut) else self.cut(zone)
        grid = self.plan.grid
        sums = interval_sums(grid, self.prefix(method)[bucket], cut.fine)
        reference = interval_sums(grid, self.prefix(self.reference)[bucket], cut.fine)
        people, operator_people, roamer_people = self._people(sums, bucket)
        alternative, _, _ = self._people(reference, bucket)

        by_mcc = interval_sums(self.country_grid, self.country_prefix()[bucket], cut.coarse)
        by_mcc = np.maximum(by_mcc, 0.0)
        mix = by_mcc / by_mcc.sum() if by_mcc.sum() > 0 else by_mcc
        roamers = {
            int(m): float(roamer_people * s)
            for m, s in zip(self.presence.roaming_mcc, mix, strict=True)
        }
        return RawEstimate(
            at=self.times[bucket],
            people=people,
            operator_people=operator_people,
            alternative=alternative,
            devices=np.maximum(sums[:-1], 0.0),
            roamers=roamers,
            method=ESTIMATORS[method].describe(),
        )

    def _people(self, sums: np.ndarray, bucket: int) -> tuple[float, np.ndarray, float]:
        """People from device sums (:meth:`_cell_series` layout): all operators together,
        each operator alone, and those with a foreign SIM."""
        cal = self.calibration
        kappa, share = cal.devices_per_person[bucket], cal.operator_share[bucket]
        roaming = max(float(sums[-1]), 0.0)
        domestic = np.maximum(sums[:-1] - roaming * cal.roaming_share[bucket], 0.0)
        roamers = roaming / kappa
        alone = domestic / (kappa * np.where(share > 0, share, np.nan)) + roamers
        return float(domestic.sum() / kappa + roamers), alone, roamers
