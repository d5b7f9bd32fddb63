"""Where a cell's devices are: each estimator spreads them over the tiles its coverage holds.

An :class:`Allocation` is ``P(tile | cell)`` as sparse pairs; the estimators differ in the
likelihood that a device at a tile is counted by a cell and in the prior over tiles:

- :class:`BestServer` (Deville et al. 2014): a tile belongs to its operator's nearest site
  among the sites covering it; the cells of that site spread their devices evenly by area
  over the tiles they own (optionally weighted by a prior).
- :class:`SignalPrior` (Statistics Netherlands' mobloc): the posterior of a device's tile
  given its cell is prior(tile) x signal dominance of the cell at the tile, normalised over
  the operator's cells covering the tile (the likelihood), renormalised per cell.
- :class:`Blend`: a mixture of two allocations, itself an allocation.

Estimators are small immutable objects identified by a hash of their parameters, so an
estimate names exactly how it was made (its ``method``).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

import numpy as np
import pyproj
import shapely

from geoalert.population.grid import Grid, polygon_edges, tiles_inside
from geoalert.population.signal import dominance, relative_level_db

PRIORS = ("area", "addresses")


@dataclass(frozen=True, eq=False)
class CellPlan:
    """The cells of every operator on a metric grid.

    Attributes
    ----------
    grid : Grid
        Tiles covering every cell's coverage and every address.
    operator : int64 array, shape (n_cells,)
        Index of each cell's operator in ``operators``.
    operators : tuple of str
        Operator MNCs, sorted.
    site : int64 array, shape (n_cells,)
        Index of each cell's site (shared by the cells of one mast of one operator).
    site_xy : float64 array, shape (n_cells, 2)
        Site position in metres (grid CRS).
    azimuth, range_m : float64 arrays, shape (n_cells,)
        Antenna azimuth (degrees from north, NaN for omni) and nominal range (metres).
    pair_cell, pair_tile : int32 arrays, shape (p,)
        Every (cell, tile) with the tile's centre in the cell's coverage; a cell smaller than
        a tile gets the tile holding a point of its coverage.
    addresses : float64 array, shape (n_tiles,)
        Number of addresses per tile.
    allocations : dict
        Allocations already computed on this plan, by estimator id (see
        :meth:`Estimator.allocation`); :meth:`forget` empties it.
    """

    grid: Grid
    operator: np.ndarray
    operators: tuple[str, ...]
    site: np.ndarray
    site_xy: np.ndarray
    azimuth: np.ndarray
    range_m: np.ndarray
    pair_cell: np.ndarray
    pair_tile: np.ndarray
    addresses: np.ndarray
    allocations: dict = field(default_factory=dict, repr=False)

    @property
    def n_cells(self) -> int:
        return len(self.operator)

    def forget(self) -> None:
        """Drop the allocations kept on this plan (they take memory for every pair)."""
        self.allocations.clear()

    @classmethod
    def build(
        cls,
        cells,
        address_lon: np.ndarray,
        address_lat: np.ndarray,
        *,
        metric_crs: str,
        tile_m: float,
    ) -> CellPlan:
        """Lay the cells and addresses of a world on a grid of ``tile_m`` metre tiles.

        Parameters
        ----------
        cells : GeoDataFrame with the ``cells.parquet`` schema (EPSG:4326), in the order
            the allocation should follow.
        address_lon, address_lat : float arrays, shape (n_addresses,), degrees (EPSG:4326)
        metric_crs : str
            CRS in metres for the grid (``geoalert.settings.metric_crs``).
        tile_m : float
            Tile side in metres.
        """
        to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)

        coverage = shapely.transform(
            np.asarray(cells.geometry.values), to_metric.transform, interleaved=False
        )
        ax, ay = to_metric.transform(np.asarray(address_lon), np.asarray(address_lat))
        bounds = shapely.total_bounds(coverage)
        if len(ax):
            bounds = (
                min(bounds[0], ax.min()),
                min(bounds[1], ay.min()),
                max(bounds[2], ax.max()),
                max(bounds[3], ay.max()),
            )
        grid = Grid.covering(tuple(bounds), tile_m)

        edges, owner = polygon_edges(coverage)
        pair_cell, pair_tile = tiles_inside(grid, edges, owner)
        missing = np.setdiff1d(np.arange(len(coverage)), pair_cell)
        if len(missing):
            xy = shapely.get_coordinates(shapely.point_on_surface(coverage[missing]))
            pair_cell = np.concatenate((pair_cell, missing))
            pair_tile = np.concatenate((pair_tile, grid.tile_of(xy[:, 0], xy[:, 1])))
        order = np.lexsort((pair_tile, pair_cell))
        pair_cell, pair_tile = pair_cell[order].astype(np.int32), pair_tile[order].astype(np.int32)

        operators, operator = np.unique(cells["operator"].to_numpy(dtype=str), return_inverse=True)
        sx, sy = to_metric.transform(cells["site_lon"].to_numpy(), cells["site_lat"].to_numpy())
        site_key = np.char.add(
            operator.astype(str), np.char.add("/", cells["site_id"].to_numpy(dtype=str))
        )
        _, site = np.unique(site_key, return_inverse=True)
        address_tile = grid.tile_of(ax, ay)
        return cls(
            grid=grid,
            operator=operator.astype(np.int64),
            operators=tuple(str(o) for o in operators),
            site=site.astype(np.int64),
            site_xy=np.column_stack((sx, sy)),
            azimuth=cells["azimuth"].to_numpy(dtype=float),
            range_m=cells["range_m"].to_numpy(dtype=float),
            pair_cell=pair_cell,
            pair_tile=pair_tile,
            addresses=np.bincount(address_tile[address_tile >= 0], minlength=grid.n_tiles).astype(
                np.float64
            ),
        )

    def pair_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """Offset ``(dx, dy)`` in metres of each pair's tile centre from its cell's site."""
        x, y = self.grid.centres(self.pair_tile)
        site = self.site_xy[self.pair_cell]
        return x - site[:, 0], y - site[:, 1]


@dataclass(frozen=True, eq=False)
class Allocation:
    """``P(tile | cell)`` as pairs: ``weight`` sums to 1 over each cell's pairs.

    Attributes
    ----------
    cell, tile : int arrays, shape (p,)
    weight : float64 array, shape (p,)
    """

    cell: np.ndarray
    tile: np.ndarray
    weight: np.ndarray

    def spread(self, values: np.ndarray, n_tiles: int) -> np.ndarray:
        """Per-tile totals of per-cell ``values`` (shape (n_cells, k)) -> (k, n_tiles)."""
        values = np.asarray(values, dtype=np.float64)
        return np.stack(
            [
                np.bincount(
                    self.tile, weights=values[self.cell, j] * self.weight, minlength=n_tiles
                )
                for j in range(values.shape[1])
            ]
        )


class Estimator(ABC):
    """How devices per cell become devices per tile; identified by :attr:`id`."""

    name: str

    @abstractmethod
    def allocate(self, plan: CellPlan) -> Allocation:
        """``P(tile | cell)`` for every cell of ``plan``."""

    def allocation(self, plan: CellPlan) -> Allocation:
        """:meth:`allocate`, computed once per plan (kept until :meth:`CellPlan.forget`)."""
        if self.id not in plan.allocations:
            plan.allocations[self.id] = self.allocate(plan)
        return plan.allocations[self.id]

    def params(self) -> dict:
        return asdict(self) if hasattr(self, "__dataclass_fields__") else {}

    @property
    def id(self) -> str:
        """Deterministic id: a hash of the estimator's name and parameters."""
        text = json.dumps({"name": self.name, **self.params()}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """Name, parameters and id, as reported in an estimate's ``method``."""
        return {"name": self.name, **self.params(), "id": self.id}


def _prior(plan: CellPlan, kind: str, floor: float) -> np.ndarray:
    """Prior weight of each pair's tile: even (``"area"``) or addresses plus a floor.

    The floor is a share of the cell's mean prior per tile, so a cell whose coverage holds
    no address still spreads its devices, and tiles without addresses keep a little weight.
    """
    if kind not in PRIORS:
        raise ValueError(f"unknown prior {kind!r}; expected one of {PRIORS}")
    if kind == "area":
        return np.ones(len(plan.pair_tile))
    prior = plan.addresses[plan.pair_tile]
    n = np.bincount(plan.pair_cell, minlength=plan.n_cells)
    mean = np.bincount(plan.pair_cell, weights=prior, minlength=plan.n_cells) / np.maximum(n, 1)
    return prior + floor * np.where(mean > 0, mean, 1.0)[plan.pair_cell]


def _normalise(plan: CellPlan, weight: np.ndarray) -> Allocation:
    """Allocation from unnormalised pair weights; a cell whose weights are all 0 goes even."""
    total = np.bincount(plan.pair_cell, weights=weight, minlength=plan.n_cells)
    dead = total[plan.pair_cell] <= 0
    if dead.any():
        weight = np.where(dead, 1.0, weight)
        total = np.bincount(plan.pair_cell, weights=weight, minlength=plan.n_cells)
    return Allocation(plan.pair_cell, plan.pair_tile, weight / total[plan.pair_cell])


def _group_max(key: np.ndarray, value: np.ndarray) -> np.ndarray:
    """For each element, the largest ``value`` among elements with the same ``key``."""
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    best = np.maximum.reduceat(value[order], starts)
    out = np.empty_like(value)
    out[order] = np.repeat(best, np.diff(np.append(starts, len(k))))
    return out


@dataclass(frozen=True, eq=False)
class BestServer(Estimator):
    """Best-server (Voronoi) areal weighting, after Deville et al. 2014.

    Parameters
    ----------
    prior : {"area", "addresses"}
        Spread evenly over the owned tiles, or in proportion to their addresses.
    floor : float
        With the address prior, weight of a tile with no address, as a share of the cell's
        mean addresses per tile.
    """

    prior: str = "area"
    floor: float = 0.1
    name = "best_server"

    def allocate(self, plan: CellPlan) -> Allocation:
        dx, dy = plan.pair_offsets()
        closeness = -np.hypot(dx, dy)
        key = plan.pair_tile * len(plan.operators) + plan.operator[plan.pair_cell]
        owned = closeness >= _group_max(key, closeness)
        return _normalise(plan, owned * _prior(plan, self.prior, self.floor))


@dataclass(frozen=True, eq=False)
class SignalPrior(Estimator):
    """Bayesian location (prior x signal-dominance likelihood), after mobloc.

    Parameters
    ----------
    prior : {"area", "addresses"}
    floor : float
        Weight of a tile with no address, as a share of the cell's mean addresses per tile.
    midpoint_db, steepness : float
        Logistic signal dominance: level (dB relative to the cell edge) at which dominance is
        one half, and its slope per dB.
    """

    prior: str = "addresses"
    floor: float = 0.1
    midpoint_db: float = 0.0
    steepness: float = 0.3
    name = "signal_prior"

    def allocate(self, plan: CellPlan) -> Allocation:
        dx, dy = plan.pair_offsets()
        level = relative_level_db(
            dx, dy, plan.azimuth[plan.pair_cell], plan.range_m[plan.pair_cell]
        )
        s = dominance(level, self.midpoint_db, self.steepness)
        key = plan.pair_tile * len(plan.operators) + plan.operator[plan.pair_cell]
        _, group = np.unique(key, return_inverse=True)
        likelihood = s / np.bincount(group, weights=s)[group]
        return _normalise(plan, likelihood * _prior(plan, self.prior, self.floor))


@dataclass(frozen=True, eq=False)
class Blend(Estimator):
    """The mixture ``share * first + (1 - share) * second`` of two allocations."""

    first: Estimator
    second: Estimator
    share: float = 0.5
    name = "blend"

    def params(self) -> dict:
        return {
            "first": self.first.describe(),
            "second": self.second.describe(),
            "share": self.share,
        }

    def allocate(self, plan: CellPlan) -> Allocation:
        a, b = self.first.allocation(plan), self.second.allocation(plan)
        if not (np.array_equal(a.cell, b.cell) and np.array_equal(a.tile, b.tile)):
            raise ValueError("allocations to blend must share their (cell, tile) pairs")
        return Allocation(a.cell, a.tile, self.share * a.weight + (1 - self.share) * b.weight)
