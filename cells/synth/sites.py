"""Mast placement: the real BIPT masts inside their surveyed areas, synthetic masts elsewhere.

Synthetic masts follow the population with the rates learned from the real masts
(``cells/priors/network_model.csv``, fitted by :mod:`cells.priors.derive`): for operator ``o``
the expected number of sites per km² is ``exp(a_o + b * ln(1 + D))`` where ``D`` is the
population density smoothed over the 3x3 block of 1 km cells around the site. Masts carry one
to three operators with the sharing shares measured on the BIPT site lists. All coordinates are
EPSG:3812 metres.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from cells.identity import OPERATORS
from cells.priors import NetworkModel

SMOOTHING_RADIUS_M = 1_500.0
"""Radius taking in the 3x3 block of 1 km grid cells (diagonal neighbours are <= 1.46 km away in
EPSG:3812): a macro site's neighbourhood, so one dense cell does not make a town urban."""

SMOOTHING_BLOCK_KM2 = 9.0
"""Area of the 3x3 block; cells absent from the grid (no population) count as empty land."""

ENV_BREAKS = (400.0, 1_500.0)
"""Smoothed density (people/km²) separating rural | suburban | urban, the breaks at which the
BIPT masts' sharing and layer mix change (see ``network_model.csv``)."""

ENVIRONMENTS = ("rural", "suburban", "urban")

HILBERT_ORDER = 10
"""Hilbert curve over 1024 x 1024 cells of 1 km: covers Belgium (about 280 x 250 km)."""


def smoothed_density(x: np.ndarray, y: np.ndarray, pop: np.ndarray) -> np.ndarray:
    """Population density around each 1 km grid cell, people per km².

    Parameters
    ----------
    x, y : numpy.ndarray, shape ``(n,)``
        Grid cell centres, EPSG:3812 metres.
    pop : numpy.ndarray, shape ``(n,)``
        People per grid cell.

    Returns
    -------
    numpy.ndarray of float64, shape ``(n,)``
        Sum of ``pop`` over cells within :data:`SMOOTHING_RADIUS_M` divided by
        :data:`SMOOTHING_BLOCK_KM2`.
    """
    xy = np.column_stack([x, y])
    tree = cKDTree(xy)
    pairs = tree.sparse_distance_matrix(tree, SMOOTHING_RADIUS_M, output_type="ndarray")
    total = np.bincount(pairs["i"], weights=np.asarray(pop, float)[pairs["j"]], minlength=len(xy))
    return total / SMOOTHING_BLOCK_KM2


def environment(density: np.ndarray) -> np.ndarray:
    """Index into :data:`ENVIRONMENTS` (0 rural, 1 suburban, 2 urban) of smoothed densities."""
    return np.searchsorted(np.asarray(ENV_BREAKS), density, side="right")


def site_rate(density: np.ndarray, model: NetworkModel) -> np.ndarray:
    """Expected sites per km² of each operator at smoothed densities.

    Parameters
    ----------
    density : numpy.ndarray, shape ``(n,)``
        People per km² (:func:`smoothed_density`); clamped to the range seen in the fit so the
        law is not extrapolated beyond the BIPT surveys.
    model : cells.priors.NetworkModel

    Returns
    -------
    numpy.ndarray, shape ``(n, 3)``
        Sites per km², columns in :data:`cells.identity.OPERATORS` order.
    """
    d = np.clip(density, model.density_min, model.density_max)
    a = np.array([model.site_intercept[o] for o in OPERATORS])
    return np.exp(a[None, :] + model.site_exponent * np.log1p(d)[:, None])


def hilbert_index(ix: np.ndarray, iy: np.ndarray, order: int = HILBERT_ORDER) -> np.ndarray:
    """Position along a Hilbert curve of integer cell coordinates in ``[0, 2**order)``."""
    n = 1 << order
    x = np.asarray(ix, np.int64).copy()
    y = np.asarray(iy, np.int64).copy()
    d = np.zeros_like(x)
    s = n >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        x = np.where(flip, n - 1 - x, x)
        y = np.where(flip, n - 1 - y, y)
        x, y = np.where(ry, x, y), np.where(ry, y, x)
        s >>= 1
    return d


def survey_hulls(real_sites: pd.DataFrame) -> shapely.Geometry:
    """Union of the convex hulls of each BIPT survey's masts, EPSG:3812.

    Inside, the real masts are the network; outside, masts are synthetic.
    """
    hulls = [
        shapely.convex_hull(shapely.multipoints(sub[["x", "y"]].to_numpy()))
        for _, sub in real_sites.groupby("survey", sort=True)
    ]
    return shapely.union_all(hulls)


def place_masts(
    grid: pd.DataFrame,
    density: np.ndarray,
    extent_m: shapely.Geometry,
    model: NetworkModel,
    real_sites: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Masts of the three operators inside ``extent_m``, one row per (mast, operator).

    Parameters
    ----------
    grid : pandas.DataFrame
        1 km population grid with ``x``, ``y`` (EPSG:3812 metres), ``pop`` and ``cell_km2``.
    density : numpy.ndarray, shape ``(len(grid),)``
        :func:`smoothed_density` of the grid.
    extent_m : shapely Polygon or MultiPolygon
        The world's extent, EPSG:3812.
    model : cells.priors.NetworkModel
    real_sites : pandas.DataFrame
        :func:`cells.priors.real_sites` with ``x``, ``y`` added (EPSG:3812).
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        Columns ``site_id`` (str, shared by the operators of one mast), ``operator`` (MNC),
        ``x``, ``y`` (EPSG:3812 metres), ``source`` ("bipt" or "synthetic").
    """
    hulls = survey_hulls(real_sites)
    gx, gy = grid["x"].to_numpy(float), grid["y"].to_numpy(float)
    real_in = shapely.contains_xy(extent_m, real_sites["x"].to_numpy(), real_sites["y"].to_numpy())
    real = real_sites.loc[real_in, ["site_id", "operator", "x", "y"]].assign(source="bipt")

    open_land = ~shapely.contains_xy(hulls, gx, gy)
    env = environment(density)
    rates = site_rate(density, model) * grid["cell_km2"].to_numpy()[:, None] * open_land[:, None]
    share = np.array([[model.mast_share[e][k] for k in (1, 2, 3)] for e in ENVIRONMENTS])
    ops_per_mast = share @ np.array([1.0, 2.0, 3.0])
    mast_rate = rates.sum(axis=1) / ops_per_mast[env]

    # systematic sampling along a Hilbert curve: masts spread evenly with the rate, no clumps
    ix = ((gx - gx.min()) // 1_000).astype(np.int64)
    iy = ((gy - gy.min()) // 1_000).astype(np.int64)
    order = np.argsort(hilbert_index(ix, iy), kind="stable")
    cum = np.cumsum(mast_rate[order])
    u0 = rng.random()
    counts = np.diff(np.floor(np.concatenate([[0.0], cum]) + 1.0 - u0)).astype(np.int64)
    cell = np.repeat(order, counts)
    n = cell.size

    x = gx[cell] + rng.uniform(-500.0, 500.0, n)
    y = gy[cell] + rng.uniform(-500.0, 500.0, n)
    outside = ~shapely.contains_xy(extent_m, x, y)
    x[outside] = gx[cell[outside]]
    y[outside] = gy[cell[outside]]

    # operators per mast: k from the sharing shares, which ones by the operators' local rates
    # (Gumbel top-k = weighted sampling without replacement)
    k = 1 + (rng.random(n)[:, None] > np.cumsum(share[env[cell]], axis=1)[:, :2]).sum(axis=1)
    keys = np.log(rates[cell] + 1e-12) + rng.gumbel(size=(n, len(OPERATORS)))
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    mast, op = np.nonzero(rank < k[:, None])
    mnc = np.array(list(OPERATORS))
    synthetic = pd.DataFrame(
        {
            "site_id": np.char.add("syn-", np.char.zfill(mast.astype(str), 6)).astype(object),
            "operator": mnc[op].astype(object),
            "x": x[mast],
            "y": y[mast],
            "source": "synthetic",
        }
    )
    return pd.concat([real, synthetic], ignore_index=True)
