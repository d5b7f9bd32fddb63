"""Analysts' frames on the sample world, against brute force over the world's own files."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geoalert
from geoalert.population.index import AtError
from geoalert.zones import ZoneError

METRIC = "EPSG:3812"
GRAND_PLACE = {"circle": {"lon": 4.3524, "lat": 50.8467, "radius_m": 1000}}
CANAL = {
    "corridor": {
        "line": {
            "type": "LineString",
            "coordinates": [[4.3245, 50.8400], [4.3350, 50.8515], [4.3505, 50.8620]],
        },
        "width_m": 400,
    }
}
#: 50 m in the Sonian Forest: too few people to publish.
FOREST = {"circle": {"lon": 4.43, "lat": 50.77, "radius_m": 50}}


@pytest.fixture(scope="module")
def engine(sample_world) -> geoalert.Engine:
    return geoalert.Engine.open(sample_world)


@pytest.fixture(scope="module")
def cells(sample_world) -> gpd.GeoDataFrame:
    return gpd.read_parquet(sample_world / "cells.parquet").set_index("cell_id")


@pytest.fixture(scope="module")
def areas(sample_world) -> gpd.GeoDataFrame:
    return gpd.read_parquet(sample_world / "areas.parquet")


def metric(geometry):
    return gpd.GeoSeries(geometry, crs="EPSG:4326").to_crs(METRIC)


@pytest.mark.parametrize("zone", [GRAND_PLACE, CANAL], ids=["circle", "corridor"])
def test_cells_frame_is_every_cell_touching_the_zone_with_its_coverage(engine, cells, zone):
    res = engine.resolve(zone, include=["cells"])
    frame = res.cells_frame()
    touching = cells.index[shapely.intersects(cells.geometry.values, res.zone.geometry)]
    assert frame.crs == "EPSG:4326"
    assert sorted(frame["cell_id"]) == sorted(touching)
    assert list(frame["cell_id"]) == [c["cell_id"] for c in res.to_dict()["cells"]]
    assert (frame.sort_values(["operator", "cell_id"]).index == frame.index).all()
    expected = cells.loc[frame["cell_id"]]
    assert shapely.equals_exact(frame.geometry.values, expected.geometry.values, 0).all()
    for column in ("operator", "operator_name", "site_id", "radio", "band", "range_m"):
        assert (frame[column].to_numpy() == expected[column].to_numpy()).all(), column
    coverage = metric(expected.geometry.values)
    zone_m = metric([res.zone.geometry]).iloc[0]
    share = coverage.intersection(zone_m).area.to_numpy() / coverage.area.to_numpy()
    np.testing.assert_allclose(frame["coverage_km2"], coverage.area / 1e6, rtol=1e-9)
    np.testing.assert_allclose(frame["share_in_zone"], share, rtol=1e-7, atol=1e-12)
    assert (frame["share_in_zone"] > 0).any() and (frame["policy"] == "intersects").all()


def test_cells_frame_of_an_overlap_policy_keeps_the_cells_mostly_inside(engine, cells):
    wide = engine.resolve(CANAL, include=["cells"]).cells_frame()
    chosen = engine.resolve(CANAL, include=["cells"], policy="overlap>=0.5").cells_frame()
    assert set(chosen["cell_id"]) == set(wide.loc[wide["share_in_zone"] >= 0.5, "cell_id"])
    assert 0 < len(chosen) < len(wide)
    assert (chosen["policy"] == "overlap>=0.5").all()


def test_cells_frame_needs_the_cells_part(engine):
    res = engine.resolve(GRAND_PLACE, include=["addresses"])
    with pytest.raises(ValueError, match=r"no 'cells' part.*include"):
        res.cells_frame()
    with pytest.raises(ValueError, match="no 'cells' part"):
        res.gaps_frame()


@pytest.mark.parametrize("policy", ["intersects", "centroid", "overlap>=0.5"])
def test_gaps_frame_shapes_against_the_union_of_the_selected_cells(engine, cells, policy):
    res = engine.resolve(CANAL, include=["cells"], policy=policy)
    gaps = res.gaps_frame()
    frame = res.cells_frame()
    reported = res.to_dict()["operators"]
    zone_m = metric([res.zone.geometry]).iloc[0]
    assert gaps.crs == "EPSG:4326"
    assert list(gaps["operator"]) == [op for op in reported for _ in range(2)]
    for op, rows in gaps.groupby("operator"):
        rows = rows.set_index("kind")
        ids = frame.loc[frame["operator"] == op, "cell_id"]
        covered = shapely.union_all(metric(cells.loc[ids].geometry.values).values)
        over, under = covered.difference(zone_m).area / 1e6, zone_m.difference(covered).area / 1e6
        assert rows.loc["overshoot", "area_km2"] == pytest.approx(over, rel=1e-6, abs=1e-9)
        assert rows.loc["undershoot", "area_km2"] == pytest.approx(under, rel=1e-6, abs=1e-9)
        assert rows.loc["overshoot", "area_km2"] == pytest.approx(reported[op]["overshoot_km2"])
        assert rows.loc["undershoot", "area_km2"] == pytest.approx(reported[op]["undershoot_km2"])
        assert (rows["cells"] == len(ids)).all() and (rows["policy"] == policy).all()
        # Shapes, brought back to lon/lat: overshoot outside the zone, undershoot inside.
        shapes = metric(rows.geometry.values)
        assert shapes.iloc[0].intersection(zone_m).area < 1e-3 * max(shapes.iloc[0].area, 1)
        assert shapes.iloc[1].difference(zone_m).area < 1e-3 * max(shapes.iloc[1].area, 1)
    if policy == "intersects":
        assert (gaps.loc[gaps["kind"] == "undershoot", "area_km2"] == 0).all()


def test_gaps_frame_of_an_empty_selection_is_the_whole_zone(engine):
    tiny = {"circle": {"lon": 4.43, "lat": 50.77, "radius_m": 5}}
    res = engine.resolve(tiny, include=["cells"], policy="centroid", operators=["01"])
    gaps = res.gaps_frame().set_index("kind")
    assert len(res.cells_frame()) == 0 and (gaps["cells"] == 0).all()
    assert gaps.loc["overshoot", "geometry"].is_empty
    assert gaps.loc["overshoot", "area_km2"] == 0
    assert gaps.loc["undershoot", "area_km2"] == pytest.approx(res.zone.area_km2)


def test_areas_frame_by_level(engine, areas):
    assert len(engine.areas_frame()) == len(areas)
    for level in ("region", "province", "municipality"):
        frame = engine.areas_frame(level)
        assert sorted(frame["code"]) == sorted(areas.loc[areas["level"] == level, "code"])
        assert frame.crs == "EPSG:4326" and list(frame.index) == list(range(len(frame)))
    with pytest.raises(ValueError, match=r"unknown level 'commune'.*municipality"):
        engine.areas_frame("commune")


def test_reach_frame_against_brute_force(engine, cells, areas, sample_world):
    codes = ["21009", "23098"]  # Ixelles, Drogenbos
    zones = {"Ixelles": {"area": codes[0]}, "Drogenbos": {"area": codes[1]}, "centre": GRAND_PLACE}
    frame = engine.reach_frame(zones, message="Test")
    assert list(frame.index) == list(zones) and frame.crs == "EPSG:4326"
    addresses = gpd.read_parquet(sample_world / "addresses.parquet")
    contacts = pd.read_parquet(sample_world / "contacts.parquet")
    registrations = contacts[["contact_id", "address_ids"]].explode("address_ids")
    for label, zone in zones.items():
        row = frame.loc[label]
        geometry = engine.zone(zone).geometry
        assert shapely.equals_exact(row.geometry, geometry, 0)
        assert row["area_km2"] == pytest.approx(metric([geometry]).area.iloc[0] / 1e6)
        touching = cells[shapely.intersects(cells.geometry.values, geometry)]
        for op in ("01", "10", "20"):
            assert row[f"cells_{op}"] == (touching["operator"] == op).sum()
        assert row["cells"] == len(touching)
        inside = addresses.loc[shapely.covers(geometry, addresses.geometry.values), "address_id"]
        assert row["addresses"] == len(inside)
        people = contacts[
            contacts["contact_id"].isin(
                registrations.loc[registrations["address_ids"].isin(inside), "contact_id"]
            )
        ]
        assert row["contacts"] == len(people) > 0
        assert row["contacts_sms"] == (people["sms"] & people["phone"].notna()).sum()
        assert row["contacts_email"] == people["email"].notna().sum()
        expected = engine.resolve(zone, include=["contacts"], message="Test").to_dict()
        assert row["cost_eur"] == expected["contacts"]["cost_eur"]


def test_reach_frame_names_the_bad_zone(engine):
    with pytest.raises(ZoneError, match=r"zone 'nowhere': .*99999"):
        engine.reach_frame({"centre": GRAND_PLACE, "nowhere": {"area": "99999"}})
    assert len(engine.reach_frame({})) == 0


def test_population_frame_is_the_published_estimate_per_zone_and_bucket(engine):
    zones = {"centre": GRAND_PLACE, "forest": FOREST}
    frame = engine.population_frame(zones)
    times = engine.times
    assert list(frame["zone"]) == [z for z in zones for _ in times]
    assert list(frame["at"]) == list(times) * len(zones)
    for row in frame.itertuples():
        published = engine.resolve(zones[row.zone], include=["population"], at=row.at)
        expected = published.to_dict()["population"]
        if expected["estimate"] is None:
            assert np.isnan(row.estimate)
        else:
            assert row.estimate == expected["estimate"]
        assert (row.low, row.high, row.rounded_to) == (
            expected["low"],
            expected["high"],
            expected["rounded_to"],
        )
    assert frame.loc[frame["zone"] == "forest", "estimate"].isna().all()
    centre = frame[frame["zone"] == "centre"]
    assert (centre["low"] <= centre["estimate"]).all() and (
        centre["estimate"] <= centre["high"]
    ).all()
    one = engine.population_frame({"centre": GRAND_PLACE}, times=["2024-03-12T14:30:00+01:00"])
    assert list(one["at"]) == [times[2]]
    with pytest.raises(AtError):
        engine.population_frame({"centre": GRAND_PLACE}, times=["2024-03-13T12:00:00+01:00"])


def test_times_need_the_population_part(sample_world, engine):
    assert len(engine.times) == 4 and engine.times.tz is not None
    cells_only = geoalert.Engine.open(sample_world, include=["cells"])
    with pytest.raises(ValueError, match="without 'population'"):
        _ = cells_only.times
