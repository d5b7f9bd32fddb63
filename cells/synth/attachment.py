"""Which cell a switched-on device is attached to: by signal and load, not nearest site.

Positions are snapped to a lattice of about 100 m. For each lattice point and operator the
candidates are the operator's cells whose coverage (:mod:`cells.synth.coverage`) contains it,
each with a signal weight: path loss relative to the cell's range, the sector antenna's
horizontal pattern, and a preference for the radio technology idle devices camp on. Per time
bucket the expected load of each cell (devices it would get on signal alone) lowers its weight
against its capacity, and each device draws its cell from the resulting probabilities.

The parameters are this simulation's own; the population estimator must learn the relation
between devices and people from the data, never from them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree

from cells.identity import OPERATORS
from cells.priors import network_model
from cells.synth import coverage
from cells.synth.bands import LAYERS

LATTICE_DEG = (0.0014, 0.0009)
"""Lattice step (lon, lat) in degrees, about 100 m x 100 m in Belgium: coverage models are no
more accurate than that, and people on one lattice point share their candidate cells."""

PATHLOSS_EXPONENT = 3.5
"""Received power falls as distance^-3.5 (urban macro cells, Okumura-Hata slope)."""

NEAR_FIELD_M = 30.0
"""Distances below this count as this: path-loss laws do not hold at the foot of the mast."""

SIDE_LOBE_DB = 20.0
"""Largest attenuation of the sector antenna pattern off boresight (3GPP TR 36.814: A_m)."""

LAYER_PRIORITY = {
    "GSM 900": 0.05,  # 2G: legacy phones and fallback only
    "n28 700": 0.5,  # 5G (mostly non-standalone): the share of 5G devices in connected mode
    "B20 800": 1.0,  # the coverage layer: where nothing better is heard
    "n78 3500": 1.5,
    "B3 1800": 3.0,  # capacity layers: operators' idle reselection priorities favour them
    "B1 2100": 3.0,
    "B7 2600": 3.0,
}
"""Relative weight of a band layer for idle devices (reselection priorities and the share of
devices supporting the technology)."""

DEVICES_PER_MHZ = 50.0
"""Attached devices a cell takes per MHz of carrier before its load repels new ones: at that
point the cell's weight is halved (idle-mode load balancing by reselection priorities)."""

MAX_CANDIDATES = 6
"""Candidates kept per lattice point and operator, the strongest."""

MIN_SHARE_OF_BEST = 0.01
"""Candidates weaker than this share of the strongest are dropped: they would take under 1%
of the devices there."""

POINTS_PER_BATCH = 200_000
"""Lattice points whose candidates are computed at once (bounds memory)."""

FALLBACK_NEIGHBOURS = 12
"""Where no cell of an operator covers a point, the best of this many nearest cells serves it
(devices camp on a weak signal rather than none)."""

_TO_METRIC = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True)
_STRIDE = 1 << 18  # lattice columns per row: 360 / 0.0014 < 2**18


def lattice_keys(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Lattice point (int64 key) of each lon/lat position, degrees EPSG:4326."""
    ix = np.floor((np.asarray(lon) + 180.0) / LATTICE_DEG[0]).astype(np.int64)
    iy = np.floor((np.asarray(lat) + 90.0) / LATTICE_DEG[1]).astype(np.int64)
    return iy * _STRIDE + ix


def lattice_centres(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat (degrees) of the centres of lattice points."""
    iy, ix = np.divmod(keys, _STRIDE)
    return (ix + 0.5) * LATTICE_DEG[0] - 180.0, (iy + 0.5) * LATTICE_DEG[1] - 90.0


class Attachment:
    """Candidate cells per (lattice point, operator), cached across time buckets.

    Parameters
    ----------
    cells : geopandas.GeoDataFrame
        The world's cells (``cells.parquet`` schema).

    Raises
    ------
    ValueError
        If a column is missing, an operator has no cell, or a band is unknown.
    """

    def __init__(self, cells: gpd.GeoDataFrame) -> None:
        needed = ("operator", "radio", "band", "azimuth", "site_lon", "site_lat", "range_m")
        missing = [c for c in needed if c not in cells.columns]
        if missing:
            raise ValueError(f"cells lack column(s) {missing}")
        ops = list(OPERATORS)
        self.op = pd.Index(ops).get_indexer(cells["operator"].to_numpy(dtype=object))
        absent = [o for k, o in enumerate(ops) if not (self.op == k).any()]
        if (self.op < 0).any() or absent:
            raise ValueError(f"cells must hold every operator of {ops}; none for {absent}")
        bandwidth = {layer.band: layer.bandwidth_mhz for layer in LAYERS}
        unknown = sorted(set(cells["band"]) - bandwidth.keys() - LAYER_PRIORITY.keys())
        if unknown:
            raise ValueError(f"cells have unknown band(s) {unknown}")
        self.capacity = DEVICES_PER_MHZ * cells["band"].map(bandwidth).to_numpy(float)
        self.preference = cells["band"].map(LAYER_PRIORITY).to_numpy(float)
        self.x, self.y = _TO_METRIC.transform(
            cells["site_lon"].to_numpy(float), cells["site_lat"].to_numpy(float)
        )
        self.azimuth = cells["azimuth"].to_numpy(float)
        self.range_m = cells["range_m"].to_numpy(float)
        self.beam_deg = network_model().h_aperture_deg
        self.trees = [
            (np.flatnonzero(self.op == k), cKDTree(np.column_stack([self.x, self.y])[self.op == k]))
            for k in range(len(ops))
        ]
        self.keys = np.empty(0, np.int64)  # lattice keys, in the order rows were made
        self.sorted_keys = np.empty(0, np.int64)
        self.sorted_rows = np.empty(0, np.int64)
        # candidate pairs, sorted by row (= point * 3 + operator) then by falling weight
        self.pair_row = np.empty(0, np.int32)
        self.pair_cell = np.empty(0, np.int32)
        self.pair_share = np.empty(0, np.float32)  # share of the row's signal weight
        self.row_start = np.zeros(1, np.int64)  # pairs of row r: row_start[r]:row_start[r + 1]

    @property
    def n_rows(self) -> int:
        return self.keys.size * len(OPERATORS)

    def signal(self, dx: np.ndarray, dy: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Signal weight of ``cell`` at offsets ``(dx, dy)`` metres from its mast."""
        d = np.maximum(np.hypot(dx, dy), NEAR_FIELD_M)
        off = coverage.off_boresight_deg(dx, dy, self.azimuth[cell])
        pattern_db = np.minimum(12.0 * (off / self.beam_deg) ** 2, SIDE_LOBE_DB)
        gain = (self.range_m[cell] / d) ** PATHLOSS_EXPONENT * 10.0 ** (-pattern_db / 10.0)
        return gain * self.preference[cell]

    def points(self, keys: np.ndarray) -> np.ndarray:
        """Lattice point numbers of ``keys`` (unique int64), adding the new ones."""
        pos = np.minimum(np.searchsorted(self.sorted_keys, keys), self.sorted_keys.size - 1)
        known = (
            self.sorted_keys[pos] == keys if self.sorted_keys.size else np.zeros(keys.size, bool)
        )
        out = np.empty(keys.size, np.int64)
        out[known] = self.sorted_rows[pos[known]]
        new = keys[~known]
        if new.size:
            out[~known] = self.keys.size + np.arange(new.size)
            for start in range(0, new.size, POINTS_PER_BATCH):
                self._add(new[start : start + POINTS_PER_BATCH])
            order = np.argsort(self.keys, kind="stable")
            self.sorted_keys, self.sorted_rows = self.keys[order], order
        return out

    def _add(self, new: np.ndarray) -> None:
        """Candidates of new lattice points, appended as the next rows."""
        n_ops = len(OPERATORS)
        lon, lat = lattice_centres(new)
        px, py = _TO_METRIC.transform(lon, lat)
        point, cell = coverage.covering_pairs(px, py, self.x, self.y, self.azimuth, self.range_m)
        row = point * n_ops + self.op[cell]

        empty = np.flatnonzero(np.bincount(row, minlength=new.size * n_ops) == 0)
        if empty.size:
            f_point, f_op = np.divmod(empty, n_ops)
            f_cell = np.empty(empty.size, np.int64)
            for k, (members, tree) in enumerate(self.trees):
                mine = f_op == k
                if not mine.any():
                    continue
                n = min(FALLBACK_NEIGHBOURS, members.size)
                _, near = tree.query(np.column_stack([px[f_point[mine]], py[f_point[mine]]]), k=n)
                near = members[near.reshape(-1, n)]
                w = self.signal(
                    px[f_point[mine]][:, None] - self.x[near],
                    py[f_point[mine]][:, None] - self.y[near],
                    near,
                )
                f_cell[mine] = near[np.arange(near.shape[0]), w.argmax(axis=1)]
            row = np.concatenate([row, empty])
            cell = np.concatenate([cell, f_cell])
            point = np.concatenate([point, f_point])
        weight = self.signal(px[point] - self.x[cell], py[point] - self.y[cell], cell)

        # by row, strongest first: one sort on row + a fraction falling with the weight
        order = np.argsort(row + 0.5 / (1.0 + np.log1p(weight)))
        row, cell, weight = row[order], cell[order], weight[order]
        first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        size = np.diff(np.r_[first, row.size])
        rank = np.arange(row.size) - np.repeat(first, size)
        keep = (rank < MAX_CANDIDATES) & (
            weight >= MIN_SHARE_OF_BEST * np.repeat(weight[first], size)
        )
        row, cell, weight = row[keep], cell[keep], weight[keep]
        total = np.bincount(row, weights=weight, minlength=new.size * n_ops)

        self.pair_row = np.concatenate([self.pair_row, (row + self.n_rows).astype(np.int32)])
        self.pair_cell = np.concatenate([self.pair_cell, cell.astype(np.int32)])
        self.pair_share = np.concatenate(
            [self.pair_share, (weight / total[row]).astype(np.float32)]
        )
        counts = np.bincount(row, minlength=new.size * n_ops)
        self.row_start = np.concatenate([self.row_start, self.row_start[-1] + np.cumsum(counts)])
        self.keys = np.concatenate([self.keys, new])

    def draw(self, row: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Cell of each device, given its row (point * 3 + operator) and a uniform number.

        Each cell's weight is first divided by ``1 + load / capacity``, its load being the
        devices it would get from these rows on signal alone.
        """
        per_row = np.bincount(row, minlength=self.n_rows).astype(np.float32)
        expected = per_row[self.pair_row] * self.pair_share
        load = np.bincount(self.pair_cell, weights=expected, minlength=self.capacity.size)
        relief = (1.0 / (1.0 + load / self.capacity)).astype(np.float32)
        weight = self.pair_share * relief[self.pair_cell]
        total = np.bincount(self.pair_row, weights=weight, minlength=self.n_rows)
        # step through the row's few candidates (contiguous, strongest first)
        first, last = self.row_start[row], self.row_start[row + 1] - 1
        target = u * total[row]
        pick = first.copy()
        acc = np.zeros(row.size)
        for k in range(MAX_CANDIDATES - 1):
            acc += weight[np.minimum(first + k, last)]
            pick += acc <= target
        return self.pair_cell[np.minimum(pick, last)].astype(np.int64)
