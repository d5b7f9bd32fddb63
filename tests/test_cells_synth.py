"""Synthetic network: cell ids, coverage shapes, mast placement and the cells table.

The network is built on a real piece of the world (the GHSL grid and municipal outlines of
``geodata/priors``, a box around Leuven that holds the real BIPT masts of Leuven and its rural
south) so the tests run in well under a second each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from cells import priors
from cells.identity import (
    CID_RANGES,
    MCC_BELGIUM,
    NODE_RANGES,
    OPERATORS,
    CellIdError,
    check_cell_parts,
    format_cell_ids,
    operator_names,
    parse_cell_ids,
)
from cells.synth import coverage, sites
from cells.synth.network import METRIC_CRS, synthesize_cells

BOX = (4.55, 50.75, 4.85, 50.95)
"""Leuven, Heverlee and the countryside to the south: urban, suburban and rural, real masts."""

TO_METRIC = pyproj.Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)


def network_grid(box: tuple[float, float, float, float]) -> tuple[pd.DataFrame, shapely.Geometry]:
    """The 1 km grid cells whose centre lies in Belgium within ``box``, in the agreed columns."""
    from geodata import priors as geo

    extent = shapely.intersection(
        shapely.union_all(geo.municipalities().geometry.values), shapely.box(*box)
    )
    g = geo.grid()
    lon, lat = pyproj.Transformer.from_crs("ESRI:54009", "EPSG:4326", always_xy=True).transform(
        g["x"].to_numpy(float), g["y"].to_numpy(float)
    )
    keep = shapely.contains_xy(extent, lon, lat)
    x, y = TO_METRIC.transform(lon[keep], lat[keep])
    grid = pd.DataFrame(
        {
            "lon": lon[keep],
            "lat": lat[keep],
            "x": x,
            "y": y,
            "pop": g["pop"].to_numpy(float)[keep],
            "built_m2": g["built_m2"].to_numpy(float)[keep],
            "cell_km2": 1.0,
        }
    )
    return grid, extent


@pytest.fixture(scope="module")
def world():
    grid, extent = network_grid(BOX)
    return grid, extent, synthesize_cells(grid, extent, seed=7)


# ---------------------------------------------------------------- identities


@given(
    mnc=st.sampled_from(sorted(OPERATORS)),
    radio=st.sampled_from(sorted(NODE_RANGES)),
    data=st.data(),
)
def test_cell_id_round_trip(mnc, radio, data):
    node = data.draw(st.integers(*NODE_RANGES[radio]))
    cid = data.draw(st.integers(*CID_RANGES[radio]))
    check_cell_parts(radio, np.array([node]), np.array([cid]))
    ids = format_cell_ids(MCC_BELGIUM, [mnc], [node], [cid])
    parts = parse_cell_ids(ids)
    assert parts.iloc[0].tolist() == [MCC_BELGIUM, mnc, node, cid]
    assert format_cell_ids(parts["mcc"], parts["mnc"], parts["node"], parts["cid"])[0] == ids[0]


@pytest.mark.parametrize("bad", ["206-01-12", "206_01_1_2", "20-01-1-2", "206-01-a-2", "", None])
def test_parse_rejects_malformed_ids(bad):
    with pytest.raises(CellIdError, match="at position 1"):
        parse_cell_ids(["206-01-1-1", bad])


@pytest.mark.parametrize(
    ("radio", "node", "cid", "message"),
    [
        ("4G", 2**20, 1, "4G node 1048576"),
        ("4G", 5, 256, "4G cid 256"),
        ("2G", 0, 1, "2G node 0"),
        ("5G", 2**22, 0, "5G node"),
        ("3G", 1, 1, "unknown radio"),
    ],
)
def test_cell_parts_out_of_range(radio, node, cid, message):
    with pytest.raises(CellIdError, match=message):
        check_cell_parts(radio, np.array([node]), np.array([cid]))


def test_operator_table():
    assert operator_names(["01", "10", "20"]).tolist() == [
        "Proximus",
        "Orange Belgium",
        "Telenet/BASE",
    ]
    with pytest.raises(CellIdError, match="unknown MNC"):
        operator_names(["05"])


# ---------------------------------------------------------------- building blocks


def test_hilbert_curve_visits_every_cell_once_between_neighbours():
    order = 4
    iy, ix = np.divmod(np.arange(4**order), 2**order)
    d = sites.hilbert_index(ix, iy, order)
    assert np.array_equal(np.sort(d), np.arange(4**order))
    path = np.argsort(d)
    steps = np.abs(np.diff(ix[path])) + np.abs(np.diff(iy[path]))
    assert (steps == 1).all()


def test_smoothed_density_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 8_000, 300), rng.uniform(0, 8_000, 300)
    pop = rng.uniform(0, 1_000, 300)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    expected = (d <= sites.SMOOTHING_RADIUS_M) @ pop / sites.SMOOTHING_BLOCK_KM2
    assert np.allclose(sites.smoothed_density(x, y, pop), expected)


def test_covering_pairs_equal_brute_force():
    rng = np.random.default_rng(1)
    n, m = 120, 3_000
    cx, cy = rng.uniform(0, 20_000, n), rng.uniform(0, 20_000, n)
    azimuth = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 360, n))
    range_m = np.exp(rng.uniform(np.log(200), np.log(8_000), n))
    px, py = rng.uniform(-2_000, 22_000, m), rng.uniform(-2_000, 22_000, m)
    point, cell = coverage.covering_pairs(px, py, cx, cy, azimuth, range_m)
    order = np.lexsort((cell, point))
    point, cell = point[order], cell[order]
    brute = coverage.contains(
        px[:, None] - cx[None, :], py[:, None] - cy[None, :], azimuth[None, :], range_m[None, :]
    )
    expected_point, expected_cell = np.nonzero(brute)
    assert np.array_equal(point, expected_point) and np.array_equal(cell, expected_cell)


def test_polygon_holds_the_analytic_shape():
    """Every point the analytic test covers is inside the drawn polygon, and the polygon adds
    only its chord slack around it (< 1% of the range, < 4% of the mast disc)."""
    rng = np.random.default_rng(2)
    n = 60
    cx, cy = rng.uniform(0, 1e4, n), rng.uniform(0, 1e4, n)
    azimuth = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 360, n))
    range_m = rng.uniform(250, 15_000, n)
    polys = coverage.polygons(cx, cy, azimuth, range_m)
    assert shapely.is_valid(polys).all()
    assert (shapely.get_num_coordinates(polys) <= 40).all()
    cell = np.repeat(np.arange(n), 400)
    r = range_m[cell] * rng.uniform(0, 1.3, cell.size)
    a = rng.uniform(0, 2 * np.pi, cell.size)
    dx, dy = r * np.sin(a), r * np.cos(a)
    analytic = coverage.contains(dx, dy, azimuth[cell], range_m[cell])
    drawn = shapely.contains_xy(polys[cell], cx[cell] + dx, cy[cell] + dy)
    assert drawn[analytic].all()
    extra = drawn & ~analytic
    slack = coverage.contains(dx, dy, azimuth[cell], range_m[cell] * 1.01) | (
        np.hypot(dx, dy) <= coverage.disc_radius(range_m[cell]) * 1.04
    )
    assert slack[extra].all()


# ---------------------------------------------------------------- the cells table


def test_schema(world):
    _, _, cells = world
    assert cells.crs.to_epsg() == 4326
    assert list(cells.columns) == [
        "cell_id",
        "mcc",
        "operator",
        "operator_name",
        "site_id",
        "radio",
        "band",
        "freq_mhz",
        "azimuth",
        "site_lon",
        "site_lat",
        "range_m",
        "geometry",
    ]
    assert cells["mcc"].dtype == np.int16 and cells["freq_mhz"].dtype == np.int16
    assert (cells["mcc"] == MCC_BELGIUM).all()
    assert set(cells["operator"]) == set(OPERATORS)
    assert (cells["operator_name"] == cells["operator"].map(OPERATORS)).all()
    assert set(cells["radio"]) == {"2G", "4G", "5G"}
    assert cells["azimuth"].dropna().between(0, 360, inclusive="left").all()
    assert (cells["range_m"] > 0).all()


def test_cell_ids_unique_and_consistent(world):
    _, _, cells = world
    assert cells["cell_id"].is_unique
    parts = parse_cell_ids(cells["cell_id"])
    assert (parts["mcc"] == MCC_BELGIUM).all()
    assert (parts["mnc"].to_numpy() == cells["operator"].to_numpy()).all()
    for radio, idx in cells.groupby("radio").indices.items():
        check_cell_parts(radio, parts["node"].to_numpy()[idx], parts["cid"].to_numpy()[idx])
    # one eNB per (site, operator), shared by the site's 4G cells
    lte = cells["radio"] == "4G"
    enb = parts.loc[lte.to_numpy(), "node"].to_numpy()
    per_site = pd.Series(enb).groupby(
        (cells.loc[lte, "site_id"] + cells.loc[lte, "operator"]).to_numpy()
    )
    assert (per_site.nunique() == 1).all() and pd.Series(enb).groupby(enb).ngroups == len(per_site)


def test_geometry_valid_modest_and_around_the_mast(world):
    _, _, cells = world
    g = cells.geometry.values
    assert shapely.is_valid(g).all()
    assert (shapely.get_type_id(g) == 3).all()
    assert (shapely.get_num_coordinates(g) <= 40).all()
    assert shapely.contains_xy(g, cells["site_lon"], cells["site_lat"]).all()


def test_every_point_covered_by_every_operator(world):
    _, extent, cells = world
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = extent.bounds
    pts = shapely.points(rng.uniform(x0, x1, 6_000), rng.uniform(y0, y1, 6_000))
    pts = pts[shapely.contains(extent, pts)]
    for op, sub in cells.groupby("operator"):
        hit, _ = shapely.STRtree(sub.geometry.values).query(pts, predicate="intersects")
        per_point = np.bincount(hit, minlength=len(pts))
        assert per_point.min() >= 1, f"operator {op} leaves points uncovered"
        assert np.median(per_point) >= 3, "coverage should overlap like a real network"


def test_real_masts_and_sectors_are_used(world):
    _, extent, cells = world
    real = priors.real_sites()
    inside = shapely.contains_xy(extent, real["lon"], real["lat"])
    expected = set(zip(real["site_id"][inside], real["operator"][inside], strict=True))
    got = set(zip(cells["site_id"], cells["operator"], strict=True))
    assert expected <= got
    sectors = priors.real_sectors()
    one = sectors[sectors["site_id"].isin(real["site_id"][inside])].iloc[0]
    mine = cells[
        (cells["site_id"] == one["site_id"])
        & (cells["operator"] == one["operator"])
        & (cells["band"] == "B20 800")
    ]
    assert sorted(mine["azimuth"]) == sorted(
        sectors.loc[
            (sectors["site_id"] == one["site_id"]) & (sectors["operator"] == one["operator"]),
            "azimuth",
        ]
        % 360
    )


def test_sites_follow_population(world):
    """Synthetic site-operators match the learned rate law in total and are denser where
    people are."""
    grid, _, cells = world
    model = priors.network_model()
    density = sites.smoothed_density(grid["x"], grid["y"], grid["pop"].to_numpy())
    hulls = sites.survey_hulls(
        priors.real_sites().assign(
            x=lambda t: TO_METRIC.transform(t["lon"], t["lat"])[0],
            y=lambda t: TO_METRIC.transform(t["lon"], t["lat"])[1],
        )
    )
    open_land = ~shapely.contains_xy(hulls, grid["x"], grid["y"])
    expected = (sites.site_rate(density, model)[open_land]).sum()
    synthetic = cells[cells["site_id"].str.startswith("syn-")]
    n = synthetic.drop_duplicates(["site_id", "operator"]).shape[0]
    assert abs(n - expected) <= 3 * np.sqrt(expected) + 3

    masts = synthetic.drop_duplicates("site_id")
    x, y = TO_METRIC.transform(masts["site_lon"], masts["site_lat"])
    cell = np.argmin(
        np.hypot(grid["x"].to_numpy()[:, None] - x, grid["y"].to_numpy()[:, None] - y), 0
    )
    dense = density[cell] >= np.median(density[open_land])
    assert dense.mean() > 0.6


def test_ranges_small_in_town_large_in_the_country(world):
    grid, _, cells = world
    b20 = cells[cells["band"] == "B20 800"]
    density = sites.smoothed_density(grid["x"], grid["y"], grid["pop"].to_numpy())
    x, y = TO_METRIC.transform(b20["site_lon"], b20["site_lat"])
    cell = np.argmin(
        np.hypot(grid["x"].to_numpy()[:, None] - x, grid["y"].to_numpy()[:, None] - y), 0
    )
    env = sites.environment(density[cell])
    urban, rural = b20["range_m"][env == 2], b20["range_m"][env == 0]
    assert urban.median() < 1_500 < 3_000 < rural.median()


def test_same_seed_same_cells_other_seed_other_cells(world):
    grid, extent, cells = world
    again = synthesize_cells(grid, extent, seed=7)
    pd.testing.assert_frame_equal(cells.drop(columns="geometry"), again.drop(columns="geometry"))
    assert (shapely.to_wkb(cells.geometry.values) == shapely.to_wkb(again.geometry.values)).all()
    other = synthesize_cells(grid, extent, seed=8)
    assert not cells["cell_id"].equals(other["cell_id"])


def test_bad_inputs_are_refused(world):
    grid, extent, _ = world
    with pytest.raises(ValueError, match=r"grid lacks column\(s\) \['cell_km2'\]"):
        synthesize_cells(grid.drop(columns="cell_km2"), extent, 0)
    with pytest.raises(ValueError, match="grid is empty"):
        synthesize_cells(grid.iloc[:0], extent, 0)
    with pytest.raises(ValueError, match="'pop' is not finite at row 3"):
        synthesize_cells(
            grid.assign(pop=np.where(np.arange(len(grid)) == 3, np.nan, 1.0)), extent, 0
        )
    with pytest.raises(ValueError, match="Polygon or MultiPolygon, not LineString"):
        synthesize_cells(grid, shapely.LineString([(4.6, 50.8), (4.7, 50.9)]), 0)


# ---------------------------------------------------------------- the sample world


def test_sample_world_cells(sample_world):
    import geopandas as gpd

    cells = gpd.read_parquet(sample_world / "cells.parquet")
    assert cells.crs.to_epsg() == 4326
    assert cells["cell_id"].is_unique
    parts = parse_cell_ids(cells["cell_id"])
    assert (parts["mnc"].to_numpy() == cells["operator"].to_numpy()).all()
    assert shapely.is_valid(cells.geometry.values).all()
    assert (shapely.get_num_coordinates(cells.geometry.values) <= 40).all()
    assert set(cells["operator"]) == set(OPERATORS) and set(cells["radio"]) == {"2G", "4G", "5G"}

    areas = gpd.read_parquet(sample_world / "areas.parquet")
    land = shapely.union_all(areas.loc[areas["level"] == "municipality"].geometry.values)
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = land.bounds
    pts = shapely.points(rng.uniform(x0, x1, 4_000), rng.uniform(y0, y1, 4_000))
    pts = pts[shapely.contains(land, pts)]
    for op, sub in cells.groupby("operator"):
        hit, _ = shapely.STRtree(sub.geometry.values).query(pts, predicate="intersects")
        assert np.bincount(hit, minlength=len(pts)).min() >= 1, f"{op} leaves gaps"
