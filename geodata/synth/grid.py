"""The GHSL 1 km population grid cut into pieces by municipality.

Each 1 km cell (a square in World Mollweide, an equal-area CRS) is clipped to the municipalities
it overlaps; a piece receives the cell's population and built-up surface in proportion to its
area, i.e. the grid is spread evenly inside each cell. Everything placed later (addresses,
homes, workplaces) is sampled inside these pieces, so each point lies inside its municipality
and the population per municipality follows the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj
import shapely

from geodata.priors import GRID_CRS

CELL_M = 1000.0
"""Side of a GHSL cell in Mollweide metres."""

_TO_LONLAT = pyproj.Transformer.from_crs(GRID_CRS, "EPSG:4326", always_xy=True)


@dataclass(frozen=True)
class Pieces:
    """Cells clipped to municipalities; arrays of length n, sorted by municipality then cell.

    Attributes
    ----------
    cell : (n,) int64
        Row of the cell in the grid.
    municipality : (n,) int64
        Row of the municipality.
    x0, y0 : (n,) float64
        Lower-left corner of the cell square, Mollweide metres.
    area_km2 : (n,) float64
        Area of the piece (km², equal-area CRS).
    pop, built_m2 : (n,) float64
        The cell's population and built-up surface times the piece's share of the cell.
    full : (n,) bool
        The whole square lies inside the municipality: no containment test needed.
    geometry : (n,) shapely Polygon/MultiPolygon
        The piece in EPSG:4326 lon/lat, as its municipality's outline is (only used where not
        ``full``).
    """

    cell: np.ndarray
    municipality: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    area_km2: np.ndarray
    pop: np.ndarray
    built_m2: np.ndarray
    full: np.ndarray
    geometry: np.ndarray

    def __len__(self) -> int:
        return len(self.cell)


def cut_grid(grid: pd.DataFrame, outlines: np.ndarray) -> Pieces:
    """Clip every grid cell to the municipality outlines it overlaps.

    Parameters
    ----------
    grid : pandas.DataFrame
        ``x``, ``y`` (cell centres, Mollweide metres), ``pop``, ``built_m2``.
    outlines : (m,) shapely geometries
        Municipality outlines in EPSG:4326.

    Returns
    -------
    Pieces
        Pieces with a positive area, sorted by municipality then cell.
    """
    outlines = np.asarray(outlines, dtype=object)
    x0 = grid["x"].to_numpy(np.float64) - CELL_M / 2
    y0 = grid["y"].to_numpy(np.float64) - CELL_M / 2
    squares = shapely.box(x0, y0, x0 + CELL_M, y0 + CELL_M)
    to_grid = pyproj.Transformer.from_crs("EPSG:4326", GRID_CRS, always_xy=True)
    outlines_m = shapely.transform(outlines, lambda c: np.column_stack(to_grid.transform(*c.T)))
    cell, muni = shapely.STRtree(outlines_m).query(squares, predicate="intersects")
    order = np.lexsort((cell, muni))
    muni, cell = muni[order], cell[order]
    shapely.prepare(outlines_m)
    # A 1 m margin: the square stays inside even where the outline's edges (straight in lon/lat)
    # bend slightly in Mollweide.
    margin = shapely.box(x0 - 1, y0 - 1, x0 + CELL_M + 1, y0 + CELL_M + 1)
    full = shapely.contains_properly(outlines_m[muni], margin[cell])
    share = np.ones(len(cell))
    partial = np.flatnonzero(~full)
    clipped = shapely.intersection(squares[cell[partial]], outlines_m[muni[partial]])
    share[partial] = shapely.area(clipped) / CELL_M**2
    geometry = np.full(len(cell), None, dtype=object)
    # The piece is tested in lon/lat against the lon/lat outline, so a point accepted in it is
    # inside its municipality exactly as PostGIS on EPSG:4326 sees it.
    geometry[partial] = shapely.intersection(
        shapely.transform(clipped, lambda c: np.column_stack(_TO_LONLAT.transform(*c.T))),
        outlines[muni[partial]],
    )
    keep = (share > 1e-9) & (full | ~shapely.is_empty(geometry))
    cell, muni, full, share, geometry = (
        cell[keep],
        muni[keep],
        full[keep],
        share[keep],
        geometry[keep],
    )
    return Pieces(
        cell=cell.astype(np.int64),
        municipality=muni.astype(np.int64),
        x0=x0[cell],
        y0=y0[cell],
        area_km2=share,
        pop=grid["pop"].to_numpy(np.float64)[cell] * share,
        built_m2=grid["built_m2"].to_numpy(np.float64)[cell] * share,
        full=full,
        geometry=geometry,
    )


def to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mollweide metres to lon/lat degrees (EPSG:4326)."""
    return _TO_LONLAT.transform(x, y)


def sample_in_pieces(
    pieces: Pieces, index: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random points, one inside each piece ``pieces[index]``.

    Points are drawn in the piece's cell square (Mollweide) and, for pieces that are not the
    whole square, redrawn until they fall inside the lon/lat piece (rejection sampling).

    Returns
    -------
    lon, lat : (len(index),) float64
        Degrees, EPSG:4326.
    """
    x = pieces.x0[index] + rng.random(len(index)) * CELL_M
    y = pieces.y0[index] + rng.random(len(index)) * CELL_M
    lon, lat = to_lonlat(x, y)
    return place_inside(pieces, index, lon, lat, rng)


def place_inside(
    pieces: Pieces,
    index: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    rng: np.random.Generator,
    max_rounds: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """Replace the points that are not inside their piece by uniform points inside it.

    Parameters
    ----------
    pieces : Pieces
    index : (n,) int
        Piece of each point.
    lon, lat : (n,) float64
        Candidate points, degrees; modified in place and returned.
    rng : numpy.random.Generator
    max_rounds : int
        Rejection rounds before the remaining points (in slivers) go to a point on the piece's
        surface.
    """
    outside = ~_inside(pieces, index, lon, lat)
    for _ in range(max_rounds):
        todo = np.flatnonzero(outside)
        if len(todo) == 0:
            return lon, lat
        bounds = shapely.bounds(pieces.geometry[index[todo]])
        lon[todo] = bounds[:, 0] + rng.random(len(todo)) * (bounds[:, 2] - bounds[:, 0])
        lat[todo] = bounds[:, 1] + rng.random(len(todo)) * (bounds[:, 3] - bounds[:, 1])
        outside[todo] = ~_inside(pieces, index[todo], lon[todo], lat[todo])
    todo = np.flatnonzero(outside)
    surface = shapely.point_on_surface(pieces.geometry[index[todo]])
    lon[todo], lat[todo] = shapely.get_x(surface), shapely.get_y(surface)
    return lon, lat


def _inside(pieces: Pieces, index: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point lies inside its piece (always true in whole-square pieces)."""
    inside = np.ones(len(index), dtype=bool)
    partial = np.flatnonzero(~pieces.full[index])
    if len(partial):
        inside[partial] = shapely.contains_xy(
            pieces.geometry[index[partial]], lon[partial], lat[partial]
        )
    return inside
