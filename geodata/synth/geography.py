"""Where things are: municipalities, grid pieces, addresses and places of one world, with the
municipal distance matrix and the gravity models built on it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geodata.synth.grid import CELL_M, Pieces, to_lonlat
from geodata.synth.sampling import GroupedChoice


@dataclass(frozen=True)
class Kernel:
    """Distance decay of a gravity model: a mix of a local and a regional exponential.

    ``f(d) = local_share * g(d, local_km) + (1 - local_share) * g(d, regional_km)`` with
    ``g(d, s) = exp(-d / s) / (2 pi s²)`` (each term a 2-D density, so ``local_share`` is the
    share of trips at the local scale).
    """

    local_km: float
    regional_km: float
    local_share: float

    def __call__(self, d_km: np.ndarray) -> np.ndarray:
        def g(s: float) -> np.ndarray:
            return np.exp(-d_km / s) / (2 * np.pi * s * s)

        return self.local_share * g(self.local_km) + (1 - self.local_share) * g(self.regional_km)


@dataclass
class Geography:
    """The spatial frame of one world.

    Parameters
    ----------
    municipalities : geopandas.GeoDataFrame
        All 581 municipalities (EPSG:4326) with ``code`` and ``region_code``.
    pieces : Pieces
        The grid pieces of the whole country.
    residents : (len(pieces),) int64
        Residents per piece (whole country).
    in_world : (n_municipalities,) bool
        Municipalities inside the world's extent (all of them at national scale).
    places : pandas.DataFrame
        GeoNames places with ``lon``, ``lat``, ``population``.
    metric_crs : str
        Projected CRS in metres for distances.
    """

    municipalities: gpd.GeoDataFrame
    pieces: Pieces
    residents: np.ndarray
    in_world: np.ndarray
    places: pd.DataFrame
    metric_crs: str

    def __post_init__(self) -> None:
        self.n = len(self.municipalities)
        self._to_metric = pyproj.Transformer.from_crs("EPSG:4326", self.metric_crs, always_xy=True)
        # Addresses exist only in the world's pieces; set by :meth:`set_addresses`.
        self.address_piece = np.empty(0, dtype=np.int64)
        self.address_count = np.zeros(len(self.pieces), dtype=np.int64)
        self.address_start = np.zeros(len(self.pieces), dtype=np.int64)
        self.address_lon = np.empty(0)
        self.address_lat = np.empty(0)

    # -- municipalities -------------------------------------------------------------------

    @cached_property
    def municipal_residents(self) -> np.ndarray:
        """(n,) residents per municipality (whole country)."""
        return np.bincount(self.pieces.municipality, self.residents, minlength=self.n)

    @cached_property
    def centres(self) -> np.ndarray:
        """(n, 2) population-weighted centre of each municipality, metric CRS (outline
        centroid where nobody lives)."""
        lon, lat = to_lonlat(self.pieces.x0 + CELL_M / 2, self.pieces.y0 + CELL_M / 2)
        x, y = self._to_metric.transform(lon, lat)
        w = self.pieces.pop
        pop = np.bincount(self.pieces.municipality, w, minlength=self.n)
        centroid = shapely.centroid(self.municipalities.to_crs(self.metric_crs).geometry.values)
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = np.bincount(self.pieces.municipality, w * x, minlength=self.n) / pop
            cy = np.bincount(self.pieces.municipality, w * y, minlength=self.n) / pop
        return np.column_stack(
            [
                np.where(pop > 0, cx, shapely.get_x(centroid)),
                np.where(pop > 0, cy, shapely.get_y(centroid)),
            ]
        )

    @cached_property
    def distance_km(self) -> np.ndarray:
        """(n, n) distance between municipal centres, km; the diagonal (and a floor) is the
        typical trip inside a municipality, 0.7 * its equivalent-disc radius."""
        area = self.municipalities.to_crs(self.metric_crs).area.to_numpy() / 1e6
        inner = 0.7 * np.sqrt(area / np.pi)
        d2 = ((self.centres[:, None, :] - self.centres[None, :, :]) ** 2).sum(-1) / 1e6
        return np.sqrt(d2 + inner[:, None] ** 2)

    def gravity(
        self, attraction: np.ndarray, kernel: Kernel, within_world: bool = False
    ) -> tuple[np.ndarray, GroupedChoice]:
        """Destination model: P(destination | origin) ∝ attraction * kernel(distance).

        Parameters
        ----------
        attraction : (n,) float
            Attraction of each destination municipality.
        kernel : Kernel
        within_world : bool
            Only destinations inside the world.

        Returns
        -------
        probability : (n, n) float64
            Row ``o`` is the destination distribution of origin ``o`` (zero rows where no
            destination is possible).
        choice : GroupedChoice
            Draws a destination municipality index (``item % n``) for an origin (group).
        """
        weight = attraction[None, :] * kernel(self.distance_km)
        if within_world:
            weight = weight * self.in_world[None, :]
        total = weight.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            probability = np.where(total > 0, weight / total, 0.0)
        group = np.repeat(np.arange(self.n), self.n)
        return probability, GroupedChoice(group, probability.ravel(), self.n)

    # -- pieces and addresses -------------------------------------------------------------

    def piece_choice(self, weights: np.ndarray) -> GroupedChoice:
        """Draws a piece within a municipality by ``weights`` (one per piece)."""
        return GroupedChoice(self.pieces.municipality, weights, self.n)

    def set_addresses(self, piece: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> None:
        """Record the world's address points (sorted by piece)."""
        self.address_piece = piece
        self.address_count = np.bincount(piece, minlength=len(self.pieces))
        self.address_start = np.concatenate([[0], np.cumsum(self.address_count)[:-1]])
        self.address_lon, self.address_lat = lon, lat

    def pick_address(self, piece: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Address index in ``piece`` at quantile ``u`` in [0, 1) (-1 where the piece has no
        address); a skewed ``u`` concentrates choices on a few addresses (large employers,
        schools)."""
        count = self.address_count[piece]
        index = self.address_start[piece] + (u * count).astype(np.int64)
        return np.where(count > 0, index, -1)

    # -- places ---------------------------------------------------------------------------

    @cached_property
    def place_municipality(self) -> np.ndarray:
        """(n_places,) municipality index of each GeoNames place (-1 outside all outlines)."""
        points = shapely.points(self.places["lon"], self.places["lat"])
        tree = shapely.STRtree(self.municipalities.geometry.values)
        place, muni = tree.query(points, predicate="within")
        found = np.full(len(points), -1, dtype=np.int64)
        found[place] = muni
        return found

    @cached_property
    def place_distance_km(self) -> np.ndarray:
        """(n, n_places) distance from each municipal centre to each place, km."""
        x, y = self._to_metric.transform(
            self.places["lon"].to_numpy(), self.places["lat"].to_numpy()
        )
        d2 = (self.centres[:, 0, None] - x[None, :]) ** 2 + (
            self.centres[:, 1, None] - y[None, :]
        ) ** 2
        return np.sqrt(d2) / 1e3

    def place_gravity(self, attraction: np.ndarray, kernel: Kernel) -> GroupedChoice:
        """Draws a place (``item % n_places``) for an origin municipality (group), with
        P(place | origin) ∝ attraction * kernel(distance)."""
        weight = attraction[None, :] * kernel(self.place_distance_km)
        weight /= weight.sum(axis=1, keepdims=True)
        k = weight.shape[1]
        return GroupedChoice(np.repeat(np.arange(self.n), k), weight.ravel(), self.n)
