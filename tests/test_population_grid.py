"""Scanline sums over the population grid against brute-force tile intersections."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geoalert.population.grid import (
    Grid,
    polygon_edges,
    row_prefix_sums,
    tiles_inside,
    zone_sums,
)

GRID = Grid.covering((0.0, 0.0, 1000.0, 800.0), 100.0)
VALUES = np.random.default_rng(0).random((2, GRID.ny, GRID.nx))
PREFIX = row_prefix_sums(VALUES)
TILES = shapely.box(
    GRID.x0 + np.tile(np.arange(GRID.nx), GRID.ny) * GRID.size,
    GRID.y0 + np.repeat(np.arange(GRID.ny), GRID.nx) * GRID.size,
    GRID.x0 + (np.tile(np.arange(GRID.nx), GRID.ny) + 1) * GRID.size,
    GRID.y0 + (np.repeat(np.arange(GRID.ny), GRID.nx) + 1) * GRID.size,
)


def oracle_sums(zone) -> np.ndarray:
    """Each tile's value times the share of the tile inside the zone."""
    share = shapely.area(shapely.intersection(TILES, zone)) / GRID.size**2
    return (VALUES.reshape(2, -1) * share).sum(axis=1)


ZONES = {
    "circle": shapely.Point(420, 380).buffer(250),
    "triangle with hole": shapely.Polygon(
        [(50, 50), (900, 120), (500, 700)], holes=[[(400, 200), (500, 200), (450, 300)]]
    ),
    "two parts": shapely.MultiPolygon(
        [shapely.box(10, 10, 190, 290), shapely.box(610, 410, 990, 790)]
    ),
    "larger than the grid": shapely.box(-100, -100, 2000, 2000),
    "outside the grid": shapely.box(5000, 5000, 6000, 6000),
}


@pytest.mark.parametrize("name", ZONES)
def test_zone_sums_converge_to_exact_area_weighting(name):
    zone = ZONES[name]
    edges, _ = polygon_edges(np.array([zone]))
    expected = oracle_sums(zone)
    assert zone_sums(GRID, PREFIX, edges, 64) == pytest.approx(expected, rel=5e-3, abs=1e-6)


def test_zone_sums_are_exact_along_rows():
    """A zone made of whole rows needs one line per row: x ends interpolate exactly."""
    zone = shapely.box(123.4, 200.0, 876.5, 500.0)
    edges, _ = polygon_edges(np.array([zone]))
    assert zone_sums(GRID, PREFIX, edges, 1) == pytest.approx(oracle_sums(zone), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0, 1000),
    st.floats(0, 800),
    st.floats(20, 600),
    st.integers(3, 12),
    st.floats(0, 6.283),
)
def test_tiles_inside_equals_point_in_polygon(x, y, r, n, turn):
    angles = turn + np.linspace(0, 2 * np.pi, n, endpoint=False)
    radii = r * (0.5 + 0.5 * np.abs(np.sin(3 * angles)))
    zone = shapely.make_valid(
        shapely.Polygon(np.column_stack((x + radii * np.cos(angles), y + radii * np.sin(angles))))
    )
    edges, owner = polygon_edges(np.array([zone]))
    _, tiles = tiles_inside(GRID, edges, owner)
    cx, cy = GRID.centres(np.arange(GRID.n_tiles))
    expected = np.flatnonzero(shapely.contains_xy(zone, cx, cy))
    assert np.array_equal(np.sort(tiles), expected)


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-200, 1200),
    st.floats(-200, 1000),
    st.floats(30, 700),
    st.integers(3, 12),
    st.floats(0, 6.283),
)
def test_zone_sums_match_area_weighting_for_any_polygon(x, y, r, n, turn):
    """Against exact tile intersections: within the midpoint rule's error along y (at most
    the densest tile's value per m² over a band of one line's height along the boundary),
    whatever the shape, inside or across the grid's edge."""
    angles = turn + np.linspace(0, 2 * np.pi, n, endpoint=False)
    radii = r * (0.5 + 0.5 * np.abs(np.cos(2 * angles)))
    ring = np.column_stack((x + radii * np.cos(angles), y + radii * np.sin(angles)))
    zone = shapely.make_valid(shapely.Polygon(ring))
    edges, _ = polygon_edges(np.array([zone]))
    lines = 16
    got = zone_sums(GRID, PREFIX, edges, lines)
    bound = VALUES.max() / GRID.size**2 * zone.length * GRID.size / lines
    assert np.abs(got - oracle_sums(zone)).max() <= bound


def test_tiles_inside_keeps_polygons_apart():
    polys = np.array([shapely.box(0, 0, 300, 300), shapely.box(200, 200, 500, 500)])
    edges, owner = polygon_edges(polys)
    who, tiles = tiles_inside(GRID, edges, owner)
    assert np.bincount(who).tolist() == [9, 9]
    assert set(tiles[who == 0]) & set(tiles[who == 1]) == {2 * GRID.nx + 2}


def test_grid_rejects_a_bad_tile_size():
    with pytest.raises(ValueError, match="tile size must be positive"):
        Grid.covering((0, 0, 1, 1), 0)
