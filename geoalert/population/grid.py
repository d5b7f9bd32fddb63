"""A regular metric grid and scanline sums over it.

Every population estimate is a density on this grid (people, or devices, per tile). A zone's
total is read from row-wise prefix sums along the horizontal lines that cross the zone, so a
query costs the number of boundary crossings, not the number of tiles inside: a province
costs little more than a municipality.

All coordinates are in the metric CRS (``geoalert.settings.metric_crs``), in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class Grid:
    """A regular grid of square tiles in a metric CRS.

    Tile ``(row, col)`` spans ``x0 + col * size .. x0 + (col + 1) * size`` and
    ``y0 + row * size .. y0 + (row + 1) * size`` (rows grow northwards). Tiles are
    numbered ``row * nx + col``.
    """

    x0: float
    y0: float
    size: float
    nx: int
    ny: int

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], size: float) -> Grid:
        """The smallest grid with tiles of ``size`` metres, snapped to multiples of ``size``,
        that covers ``bounds`` (minx, miny, maxx, maxy in metres)."""
        if not size > 0:
            raise ValueError(f"tile size must be positive, got {size!r} m")
        minx, miny, maxx, maxy = bounds
        x0 = np.floor(minx / size) * size
        y0 = np.floor(miny / size) * size
        nx = max(1, int(np.ceil((maxx - x0) / size)))
        ny = max(1, int(np.ceil((maxy - y0) / size)))
        return cls(float(x0), float(y0), float(size), nx, ny)

    @property
    def n_tiles(self) -> int:
        return self.nx * self.ny

    def tile_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Tile number of each point (``-1`` outside the grid); ``x``, ``y`` in metres."""
        col = np.floor((np.asarray(x, dtype=float) - self.x0) / self.size)
        row = np.floor((np.asarray(y, dtype=float) - self.y0) / self.size)
        inside = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        return np.where(inside, row * self.nx + col, -1).astype(np.int64)

    def centres(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre ``(x, y)`` in metres of each tile number."""
        row, col = np.divmod(np.asarray(tiles, dtype=np.int64), self.nx)
        return self.x0 + (col + 0.5) * self.size, self.y0 + (row + 0.5) * self.size


def polygon_edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight edges of the rings of polygons.

    Parameters
    ----------
    geoms : array of (Multi)Polygon, shape (n,)

    Returns
    -------
    edges : float64 array, shape (m, 4)
        ``x_a, y_a, x_b, y_b`` of each edge, in the geometries' coordinates.
    owner : int64 array, shape (m,)
        Index into ``geoms`` of the polygon each edge belongs to.
    """
    rings, ring_owner = shapely.get_parts(shapely.boundary(np.asarray(geoms)), return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same = coord_ring[1:] == coord_ring[:-1]
    edges = np.hstack([coords[:-1][same], coords[1:][same]])
    return edges, ring_owner[coord_ring[:-1][same]]


def scanline_intervals(
    edges: np.ndarray, owner: np.ndarray, y_first: float, dy: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where horizontal lines ``y_k = y_first + k * dy`` run inside polygons.

    A point on a line is inside when an odd number of rings cross the line to its left
    (even-odd rule, right for valid polygons with holes). An edge counts for the lines with
    ``min(y_a, y_b) <= y < max(y_a, y_b)``, so every closed ring crosses every line an even
    number of times.

    Parameters
    ----------
    edges, owner : from :func:`polygon_edges`
    y_first, dy : float
        First line and spacing, in the edges' units (``dy > 0``).

    Returns
    -------
    owner, k, x_in, x_out : arrays of shape (p,)
        One entry per inside interval: its polygon, line number (``k >= 0`` only when
        ``y_first`` is below every polygon) and the x of its two ends, sorted by polygon,
        line and x.
    """
    ya, yb = edges[:, 1], edges[:, 3]
    lo, hi = np.minimum(ya, yb), np.maximum(ya, yb)
    k_lo = np.ceil((lo - y_first) / dy).astype(np.int64)
    k_hi = np.ceil((hi - y_first) / dy).astype(np.int64)
    n = np.maximum(k_hi - k_lo, 0)
    e = np.repeat(np.arange(len(edges)), n)
    if len(e) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0), np.empty(0)
    start = np.cumsum(n) - n
    k = k_lo[e] + (np.arange(len(e)) - start[e])
    y = y_first + k * dy
    xa, xb = edges[e, 0], edges[e, 2]
    x = xa + (y - ya[e]) * (xb - xa) / (yb[e] - ya[e])
    who = owner[e]
    order = np.lexsort((x, k, who))
    who, k, x = who[order], k[order], x[order]
    return who[0::2], k[0::2], x[0::2], x[1::2]


def row_prefix_sums(values: np.ndarray) -> np.ndarray:
    """Row-wise prefix sums of per-tile values, laid out for :func:`zone_sums`.

    Parameters
    ----------
    values : array, shape (n_series, ny, nx)
        Any quantity per tile (people, devices), one plane per series.

    Returns
    -------
    float64 array, shape (ny, nx + 1, n_series)
        ``out[r, c, s]`` is the sum of ``values[s, r, :c]``.
    """
    n_series, ny, nx = values.shape
    out = np.zeros((ny, nx + 1, n_series), dtype=np.float64)
    np.cumsum(np.moveaxis(values, 0, -1), axis=1, out=out[:, 1:, :])
    return out


@dataclass(frozen=True)
class Intervals:
    """Where a zone's scanlines run inside it: row of tiles and x of both ends (metres),
    each interval standing for ``weight`` of its row's height."""

    row: np.ndarray
    x_in: np.ndarray
    x_out: np.ndarray
    weight: float


def zone_intervals(grid: Grid, edges: np.ndarray, lines_per_row: int = 1) -> Intervals:
    """The inside intervals of a polygon along ``lines_per_row`` scanlines per row of tiles.

    Parameters
    ----------
    grid : Grid
    edges : array, shape (m, 4), the polygon's edges in the grid's CRS
        (:func:`polygon_edges` of one geometry).
    lines_per_row : int
        Scanlines per row of tiles (midpoint rule along y); more lines follow small zones
        more closely.
    """
    dy = grid.size / lines_per_row
    _, k, x_in, x_out = scanline_intervals(
        edges, np.zeros(len(edges), dtype=np.int64), grid.y0 + dy / 2, dy
    )
    row = k // lines_per_row
    keep = (row >= 0) & (row < grid.ny)
    return Intervals(row[keep], x_in[keep], x_out[keep], 1.0 / lines_per_row)


def interval_sums(grid: Grid, prefix: np.ndarray, intervals: Intervals) -> np.ndarray:
    """Sum of each series of ``prefix`` over a zone's :class:`Intervals`.

    Each tile's value is taken as spread evenly over the tile: along x the sum is exact under
    that assumption (the ends of an interval interpolate within their tile).

    Parameters
    ----------
    grid : Grid
    prefix : array, shape (ny, nx + 1, n_series), from :func:`row_prefix_sums`
    intervals : Intervals on the same grid

    Returns
    -------
    float64 array, shape (n_series,)
    """
    i = intervals
    total = _prefix_at(grid, prefix, i.row, i.x_out) - _prefix_at(grid, prefix, i.row, i.x_in)
    return total.sum(axis=0, dtype=np.float64) * i.weight


def zone_sums(
    grid: Grid, prefix: np.ndarray, edges: np.ndarray, lines_per_row: int = 1
) -> np.ndarray:
    """Sum of each series over a polygon: :func:`interval_sums` of :func:`zone_intervals`."""
    return interval_sums(grid, prefix, zone_intervals(grid, edges, lines_per_row))


def _prefix_at(grid: Grid, prefix: np.ndarray, row: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Prefix sums at fractional positions ``x`` (metres) along ``row``, shape (p, n_series)."""
    u = np.clip((x - grid.x0) / grid.size, 0.0, grid.nx)
    col = np.minimum(u.astype(np.int64), grid.nx - 1)
    frac = (u - col)[:, None]
    before = prefix[row, col]
    return before + frac * (prefix[row, col + 1] - before)


def tiles_inside(grid: Grid, edges: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tiles whose centre lies inside each polygon.

    Parameters
    ----------
    grid : Grid
    edges, owner : from :func:`polygon_edges`, in the grid's CRS

    Returns
    -------
    owner, tile : int64 arrays, shape (p,)
        One pair per (polygon, tile) with the tile's centre inside the polygon.
    """
    who, row, x_in, x_out = scanline_intervals(edges, owner, grid.y0 + grid.size / 2, grid.size)
    c_in = np.ceil((x_in - grid.x0) / grid.size - 0.5).astype(np.int64)
    c_out = np.ceil((x_out - grid.x0) / grid.size - 0.5).astype(np.int64)
    keep = (row >= 0) & (row < grid.ny)
    c_in, c_out = np.clip(c_in, 0, grid.nx), np.clip(c_out, 0, grid.nx)
    n = np.where(keep, np.maximum(c_out - c_in, 0), 0)
    i = np.repeat(np.arange(len(n)), n)
    start = np.cumsum(n) - n
    col = c_in[i] + (np.arange(len(i)) - start[i])
    return who[i], row[i] * grid.nx + col
