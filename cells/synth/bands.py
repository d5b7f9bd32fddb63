"""Band layers of the synthetic network and the range of each cell.

The bands are those the three operators hold under their BIPT licences (900 and 1800 MHz since
the GSM licences, 2100 MHz since 2001, 800 and 2600 MHz since 2011-2013, 700 MHz and 3600 MHz
since the 2022 multiband auction). The certificates of ``cells/priors`` carry only the 800 MHz
layer, so which layers a site carries is set here, by environment, as a model: a real sector
carries four to seven layers; the demo world keeps 1.8 per sector on average (the 800 MHz
coverage layer everywhere, capacity and legacy layers where they matter most), which puts the
national network at about 60 000 cells, the size the engine's benchmarks are set for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class Layer:
    """One band layer: a cell per sector of every site that carries it."""

    radio: str
    band: str
    freq_mhz: int
    """Nominal downlink frequency; the 800 MHz layer uses each operator's certificate value."""
    bandwidth_mhz: float
    """Carrier bandwidth: the layer's capacity in the presence simulation."""
    range_factor: float
    """Cell range over the local site spacing: lower bands reach further (roughly the ratio of
    their path-loss-limited radii in Okumura-Hata terms, 800 MHz at 1.5 so neighbouring
    sites' coverage overlaps)."""
    share: tuple[float, float, float]
    """Share of (rural, suburban, urban) sites carrying the layer."""
    code: int
    """Layer number within its radio, used in cell ids (cid = 10 * code + sector)."""


LAYERS: tuple[Layer, ...] = (
    # 2G stays on as the voice/SMS fallback, kept mostly where coverage is thinnest
    Layer("2G", "GSM 900", 900, 5.0, 1.4, (0.30, 0.15, 0.10), 0),
    # 800 MHz is the coverage layer: every site carries it
    Layer("4G", "B20 800", 800, 10.0, 1.5, (1.0, 1.0, 1.0), 0),
    # 1800 MHz is the main capacity layer, denser where people are
    Layer("4G", "B3 1800", 1800, 20.0, 1.1, (0.20, 0.40, 0.60), 1),
    Layer("4G", "B1 2100", 2100, 15.0, 1.0, (0.0, 0.02, 0.05), 2),
    Layer("4G", "B7 2600", 2600, 20.0, 0.8, (0.0, 0.02, 0.05), 3),
    # 5G: 700 MHz for rural coverage, 3500 MHz for urban capacity
    Layer("5G", "n28 700", 700, 10.0, 1.6, (0.20, 0.05, 0.0), 1),
    Layer("5G", "n78 3500", 3500, 80.0, 0.6, (0.0, 0.05, 0.15), 0),
)

SPACING_NEIGHBOURS = 3
"""Local site spacing = mean distance to this many nearest sites of the same operator."""

RANGE_MIN_M = 250.0
"""Smallest cell range: dense-urban macro cells serve a few hundred metres."""

RANGE_MAX_M = 15_000.0
"""Largest range before the coverage check: a rural macro cell at 800 MHz from a 30-40 m mast
reaches 10-15 km."""

DEFAULT_SPACING_M = 5_000.0
"""Site spacing assumed for an operator alone in a tiny extent (no neighbours to measure)."""


def choose_layers(env: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Which layers each (site, operator) carries.

    Parameters
    ----------
    env : numpy.ndarray of int, shape ``(n,)``
        Environment index (0 rural, 1 suburban, 2 urban).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of bool, shape ``(n, len(LAYERS))``
    """
    share = np.array([layer.share for layer in LAYERS]).T  # (3 environments, layers)
    return rng.random((env.size, len(LAYERS))) < share[env]


def site_spacing(x: np.ndarray, y: np.ndarray, operator: np.ndarray) -> np.ndarray:
    """Local spacing in metres of each (site, operator) to its operator's neighbours.

    Parameters
    ----------
    x, y : numpy.ndarray, shape ``(n,)``
        Site positions, EPSG:3812 metres.
    operator : numpy.ndarray of str, shape ``(n,)``

    Returns
    -------
    numpy.ndarray of float64, shape ``(n,)``
        Mean distance to the :data:`SPACING_NEIGHBOURS` nearest other sites of the operator.
    """
    out = np.full(x.size, DEFAULT_SPACING_M)
    for op in np.unique(operator):
        mine = np.flatnonzero(operator == op)
        k = min(SPACING_NEIGHBOURS, mine.size - 1)
        if k < 1:
            continue
        xy = np.column_stack([x[mine], y[mine]])
        d, _ = cKDTree(xy).query(xy, k=k + 1)
        out[mine] = d[:, 1:].mean(axis=1)
    return out


def layer_table() -> pd.DataFrame:
    """:data:`LAYERS` as a table, one row per layer in order."""
    return pd.DataFrame([layer.__dict__ for layer in LAYERS])
