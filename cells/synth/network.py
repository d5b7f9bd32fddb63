"""The demo world's mobile network: three operators' cells with coverage polygons.

:func:`synthesize_cells` builds it in steps, each in its own module:

1. masts (:mod:`cells.synth.sites`): the real BIPT masts inside their surveys, synthetic masts
   elsewhere at the rates learned from them, shared by 1-3 operators as the real ones are;
2. sectors (:mod:`cells.synth.sectors`): certificate azimuths where known, learned ones elsewhere;
3. layers and ranges (:mod:`cells.synth.bands`): a cell per sector and band layer, its range
   from the band and the operator's local site spacing;
4. coverage check (here): the gaps each operator leaves in the extent (extent minus the union
   of its coverage polygons) are closed by widening the 800 MHz cell that faces them;
5. identities (:mod:`cells.identity`): ECGI/NCGI/CGI-style ids, geometry to EPSG:4326.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from cells import priors
from cells.identity import MCC_BELGIUM, NODE_RANGES, OPERATORS, format_cell_ids
from cells.synth import bands, coverage, sectors, sites

METRIC_CRS = "EPSG:3812"
"""CRS in which the network is built (Belgian Lambert 2008, metres)."""

GRID_COLUMNS = ("lon", "lat", "x", "y", "pop", "built_m2", "cell_km2")

GAP_MARGIN_M = 250.0
"""A cell widened to close a coverage gap reaches this far past the gap's farthest vertex."""

GAP_ANGLE_MARGIN_DEG = 5.0
"""A gap vertex is given to a sector only if it lies this far inside the sector's wedge."""

GAP_PASSES = 6
"""Rounds of gap closing; each widens cells towards the gaps left by the previous one."""

GAP_CANDIDATES = 48
"""Nearest 800 MHz cells (about 16 masts) considered for each gap vertex."""

ENB_MIN = 2**16
"""eNB ids start above the largest LAC, so 2G and 4G ids never coincide."""

GNB_OFFSET = 2**20
"""gNB id = eNB id + 2**20: the co-sited nodes share their number, the 22-bit gNB id keeps
5G ids apart from 4G ones."""

LAC_TILE_M = 20_000.0
"""2G location areas are 20 km tiles (a few dozen sites, as location areas are sized to
balance paging and location-update load)."""

LAC_BASE = 1_000
"""LAC of the tile at the EPSG:3812 origin (500 km, 500 km); 100 tiles per row."""

_TO_METRIC = pyproj.Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
_TO_WGS84 = pyproj.Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


def synthesize_cells(grid: pd.DataFrame, extent: shapely.Geometry, seed: int) -> gpd.GeoDataFrame:
    """Cells of the three operators over ``extent``, with coverage polygons.

    Parameters
    ----------
    grid : pandas.DataFrame
        The 1 km GHSL population grid restricted to the extent: ``lon``, ``lat`` (cell centre,
        WGS84), ``x``, ``y`` (EPSG:3812 metres), ``pop`` (people), ``built_m2``, ``cell_km2``.
    extent : shapely Polygon or MultiPolygon
        The world's land, EPSG:4326 (lon/lat).
    seed : int
        The same seed, grid and extent give the same cells.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell, CRS EPSG:4326, columns of the world's ``cells.parquet``: ``cell_id``,
        ``mcc``, ``operator``, ``operator_name``, ``site_id``, ``radio``, ``band``,
        ``freq_mhz``, ``azimuth`` (degrees, NaN omni), ``site_lon``, ``site_lat``, ``range_m``,
        ``geometry`` (coverage Polygon). Sorted by operator, site, band layer and sector.

    Raises
    ------
    ValueError
        If the grid lacks a column, is empty or has non-finite values, or the extent is not a
        valid, non-empty Polygon or MultiPolygon.
    """
    _check_inputs(grid, extent)
    rng_masts, rng_sectors, rng_layers, rng_ids = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    extent_m = shapely.transform(extent, _project, interleaved=False)
    shapely.prepare(extent_m)
    model = priors.network_model()
    real = priors.real_sites().copy()
    real["x"], real["y"] = _TO_METRIC.transform(real["lon"].to_numpy(), real["lat"].to_numpy())

    gx, gy = grid["x"].to_numpy(float), grid["y"].to_numpy(float)
    density = sites.smoothed_density(gx, gy, grid["pop"].to_numpy(float))
    site_ops = sites.place_masts(grid, density, extent_m, model, real, rng_masts)
    _, nearest = cKDTree(np.column_stack([gx, gy])).query(site_ops[["x", "y"]].to_numpy())
    site_ops["env"] = sites.environment(density[nearest])
    site_ops["spacing"] = bands.site_spacing(
        site_ops["x"].to_numpy(), site_ops["y"].to_numpy(), site_ops["operator"].to_numpy()
    )

    sec = sectors.make_sectors(site_ops, model, priors.real_sectors(), rng_sectors)
    cells = _layer_cells(site_ops, sec, model, rng_layers)
    _close_gaps(cells, extent_m)
    return _finish(cells, rng_ids)


def _project(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _TO_METRIC.transform(x, y)


def _unproject(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _TO_WGS84.transform(x, y)


def _check_inputs(grid: pd.DataFrame, extent: shapely.Geometry) -> None:
    missing = [c for c in GRID_COLUMNS if c not in grid.columns]
    if missing:
        raise ValueError(f"grid lacks column(s) {missing}; expected {list(GRID_COLUMNS)}")
    if grid.empty:
        raise ValueError("grid is empty: the extent holds no populated 1 km cell")
    values = grid[list(GRID_COLUMNS)].to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"grid column {GRID_COLUMNS[col]!r} is not finite at row {row}")
    if (grid["pop"] < 0).any() or (grid["cell_km2"] <= 0).any():
        raise ValueError("grid pop must be >= 0 and cell_km2 > 0")
    if shapely.get_type_id(extent) not in (3, 6):
        raise ValueError(f"extent must be a Polygon or MultiPolygon, not {extent.geom_type}")
    if extent.is_empty or not extent.is_valid:
        raise ValueError(f"extent is empty or invalid: {shapely.is_valid_reason(extent)}")


def _layer_cells(
    site_ops: pd.DataFrame, sec: pd.DataFrame, model: priors.NetworkModel, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per (sector, layer carried by its site), with range and frequency."""
    layers = bands.layer_table()
    carries = bands.choose_layers(site_ops["env"].to_numpy(), rng)
    s, layer = np.nonzero(carries[sec["site_op"].to_numpy()])
    cells = sec.iloc[s].reset_index(drop=True)
    cells["layer"] = layer
    so = site_ops.iloc[cells["site_op"].to_numpy()].reset_index(drop=True)
    for col in ("site_id", "operator", "x", "y", "source"):
        cells[col] = so[col].to_numpy()
    for col in ("radio", "band", "freq_mhz", "bandwidth_mhz", "code"):
        cells[col] = layers[col].to_numpy()[layer]
    b20 = cells["band"] == "B20 800"
    cells.loc[b20, "freq_mhz"] = cells.loc[b20, "operator"].map(model.b20_downlink_mhz)
    factor = layers["range_factor"].to_numpy()[layer]
    cells["range_m"] = np.clip(
        factor * so["spacing"].to_numpy(), bands.RANGE_MIN_M, bands.RANGE_MAX_M
    )
    return cells


def _close_gaps(cells: pd.DataFrame, extent_m: shapely.Geometry) -> None:
    """Widen 800 MHz cells until each operator's coverage holds the whole extent (in place).

    The gaps are computed exactly (extent minus the union of the operator's coverage
    polygons); the sector facing each gap vertex from the nearest mast is widened past it.

    Raises
    ------
    ValueError
        If an operator has no site in the extent.
    RuntimeError
        If gaps remain after :data:`GAP_PASSES` rounds.
    """
    xyar = ("x", "y", "azimuth", "range_m")
    for op in OPERATORS:
        mine = np.flatnonzero((cells["operator"] == op).to_numpy())
        if mine.size == 0:
            raise ValueError(f"no site of operator {op} in the extent: too small to cover")
        anchors = mine[(cells["band"].to_numpy()[mine] == "B20 800")]
        ax, ay = cells["x"].to_numpy()[anchors], cells["y"].to_numpy()[anchors]
        tree = cKDTree(np.column_stack([ax, ay]))
        shapes = coverage.polygons(*(cells[k].to_numpy(float)[mine] for k in xyar))
        gaps = shapely.difference(extent_m, shapely.union_all(shapes))
        for _ in range(GAP_PASSES):
            if gaps.is_empty:
                break
            parts = shapely.get_parts(gaps)
            pts = np.concatenate(
                [
                    shapely.get_coordinates(parts),
                    shapely.get_coordinates(shapely.point_on_surface(parts)),
                ]
            )
            k = min(GAP_CANDIDATES, anchors.size)
            dist, idx = tree.query(pts, k=k)
            dist, idx = dist.reshape(len(pts), k), idx.reshape(len(pts), k)
            off = coverage.off_boresight_deg(
                pts[:, :1] - ax[idx],
                pts[:, 1:] - ay[idx],
                cells["azimuth"].to_numpy()[anchors][idx],
            )
            facing = off <= coverage.WEDGE_HALF_ANGLE_DEG - GAP_ANGLE_MARGIN_DEG
            # the nearest facing sector, else the nearest sector at all
            best = np.where(facing.any(axis=1), facing.argmax(axis=1), 0)
            row = np.arange(len(pts))
            widened = (
                pd.Series(dist[row, best] + GAP_MARGIN_M).groupby(anchors[idx[row, best]]).max()
            )
            rows = widened.index.to_numpy()
            cells.loc[rows, "range_m"] = np.maximum(cells["range_m"].to_numpy()[rows], widened)
            grown = coverage.polygons(*(cells[k].to_numpy(float)[rows] for k in xyar))
            gaps = shapely.difference(gaps, shapely.union_all(grown))
        else:
            if not gaps.is_empty:
                raise RuntimeError(f"operator {op} leaves {gaps.area:.0f} m2 uncovered")


def _finish(cells: pd.DataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Cell ids, WGS84 geometry and the schema's columns and dtypes."""
    cells = cells.sort_values(["operator", "site_id", "radio", "code", "sector"], kind="stable")
    cells = cells.reset_index(drop=True)
    node = np.zeros(len(cells), np.int64)
    cid = np.zeros(len(cells), np.int64)
    site_op = cells["site_op"].to_numpy()
    radio = cells["radio"].to_numpy()
    for op in OPERATORS:
        mine = (cells["operator"] == op).to_numpy()
        ids = np.unique(site_op[mine])
        enb_hi = NODE_RANGES["4G"][1]
        enb = ENB_MIN + rng.choice(enb_hi - ENB_MIN + 1, size=ids.size, replace=False)
        node_of = pd.Series(enb, index=ids)
        for r, offset in (("4G", 0), ("5G", GNB_OFFSET)):
            m = mine & (radio == r)
            node[m] = node_of[site_op[m]].to_numpy() + offset
            cid[m] = 10 * cells["code"].to_numpy()[m] + cells["sector"].to_numpy()[m]
        m = mine & (radio == "2G")
        x, y = cells["x"].to_numpy()[m], cells["y"].to_numpy()[m]
        ix = np.clip((x - 500_000.0) // LAC_TILE_M, 0, 99).astype(np.int64)
        iy = np.clip((y - 500_000.0) // LAC_TILE_M, 0, 99).astype(np.int64)
        lac = LAC_BASE + 100 * iy + ix
        site_rank = pd.Series(site_op[m]).groupby(lac).rank(method="dense").to_numpy()
        node[m] = lac
        cid[m] = 10 * site_rank.astype(np.int64) + cells["sector"].to_numpy()[m]

    geometry = shapely.transform(
        coverage.polygons(*(cells[k].to_numpy(float) for k in ("x", "y", "azimuth", "range_m"))),
        _unproject,
        interleaved=False,
    )
    lon, lat = _TO_WGS84.transform(cells["x"].to_numpy(), cells["y"].to_numpy())
    operator = cells["operator"].to_numpy(dtype=object)
    out = pd.DataFrame(
        {
            "cell_id": format_cell_ids(MCC_BELGIUM, operator, node, cid),
            "mcc": np.full(len(cells), MCC_BELGIUM, np.int16),
            "operator": operator,
            "operator_name": pd.Series(operator).map(OPERATORS).to_numpy(dtype=object),
            "site_id": cells["site_id"].to_numpy(dtype=object),
            "radio": radio.astype(object),
            "band": cells["band"].to_numpy(dtype=object),
            "freq_mhz": cells["freq_mhz"].to_numpy().astype(np.int16),
            "azimuth": cells["azimuth"].to_numpy(float),
            "site_lon": lon,
            "site_lat": lat,
            "range_m": cells["range_m"].to_numpy(float),
        }
    )
    return gpd.GeoDataFrame(out, geometry=geometry, crs="EPSG:4326")
