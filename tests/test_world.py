"""Invariants of the demo world (sample scale, built once per run by the ``sample_world``
fixture), and properties of the synthesis helpers."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow.parquet as pq
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata import priors
from geodata.synth import contacts as reg
from geodata.synth.areas import dissolve
from geodata.synth.grid import cut_grid
from geodata.synth.sampling import GroupedChoice, round_cumulative

DATA_FILES = (
    "areas.parquet",
    "cells.parquet",
    "addresses.parquet",
    "contacts.parquet",
    "groups.parquet",
    "truth.parquet",
    "presence.parquet",
)
COLUMNS = {
    "areas.parquet": ["code", "level", "name_nl", "name_fr", "name_de", "name", "parent_code",
                      "province_code", "region_code", "geometry"],
    "cells.parquet": ["cell_id", "mcc", "operator", "operator_name", "site_id", "radio", "band",
                      "freq_mhz", "azimuth", "site_lon", "site_lat", "range_m", "geometry"],
    "addresses.parquet": ["address_id", "municipality", "geometry"],
    "contacts.parquet": ["contact_id", "phone", "sms", "voice", "email", "language",
                         "address_ids", "address_labels"],
    "groups.parquet": ["group_id", "name", "kind", "area_code", "contact_ids"],
    "truth.parquet": ["person_id", "time", "home_mcc", "geometry"],
    "presence.parquet": ["cell_id", "operator", "time", "home_mcc", "devices"],
}  # fmt: skip
GEO_FILES = ("areas.parquet", "cells.parquet", "addresses.parquet", "truth.parquet")


@pytest.fixture(scope="module")
def manifest(sample_world):
    return json.loads((sample_world / "manifest.json").read_text())


@pytest.fixture(scope="module")
def areas(sample_world):
    return gpd.read_parquet(sample_world / "areas.parquet")


@pytest.fixture(scope="module")
def addresses(sample_world):
    return gpd.read_parquet(sample_world / "addresses.parquet")


@pytest.fixture(scope="module")
def contacts(sample_world):
    return pd.read_parquet(sample_world / "contacts.parquet")


@pytest.fixture(scope="module")
def truth(sample_world):
    """Truth as plain arrays: person_id, time, home_mcc, x, y."""
    table = pq.read_table(sample_world / "truth.parquet")
    geometry = table.column("geometry").combine_chunks()
    return pd.DataFrame(
        {
            "person_id": table.column("person_id").to_numpy(),
            "time": table.column("time").to_pandas(),
            "home_mcc": table.column("home_mcc").to_numpy(),
            "x": geometry.field("x").to_numpy(),
            "y": geometry.field("y").to_numpy(),
        }
    )


# -- files, columns, ids, geometries, counts -------------------------------------------------


@pytest.mark.parametrize("name", DATA_FILES)
def test_file_has_the_schema_columns(sample_world, name):
    assert pq.read_schema(sample_world / name).names == COLUMNS[name]


@pytest.mark.parametrize("name", GEO_FILES)
def test_geoparquet_crs_and_valid_geometries(sample_world, name):
    # Truth is read around central Brussels only (points are filtered on the native encoding).
    bbox = (4.34, 50.83, 4.37, 50.86) if name == "truth.parquet" else None
    frame = gpd.read_parquet(sample_world / name, columns=["geometry"], bbox=bbox)
    assert frame.crs == "EPSG:4326"
    assert len(frame) > 0
    assert frame.geometry.notna().all()
    assert shapely.is_valid(frame.geometry.values).all()
    expected = {"areas.parquet": {"MultiPolygon"}, "cells.parquet": {"Polygon", "MultiPolygon"}}
    assert set(frame.geom_type) <= expected.get(name, {"Point"})


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("areas.parquet", ["code"]),
        ("cells.parquet", ["cell_id"]),
        ("addresses.parquet", ["address_id"]),
        ("contacts.parquet", ["contact_id"]),
        ("groups.parquet", ["group_id"]),
        ("truth.parquet", ["person_id", "time"]),
        ("presence.parquet", ["cell_id", "time", "home_mcc"]),
    ],
)
def test_ids_are_unique(sample_world, name, key):
    frame = pd.read_parquet(sample_world / name, columns=key)
    combined = np.zeros(len(frame), dtype=np.int64)
    for column in key:
        codes, uniques = pd.factorize(frame[column])
        combined = combined * len(uniques) + codes
    assert (np.diff(np.sort(combined)) != 0).all()


def test_counts_match_the_manifest(sample_world, manifest):
    for name in DATA_FILES:
        assert pq.read_metadata(sample_world / name).num_rows == manifest["counts"][name], name


def test_manifest_describes_the_world(manifest):
    assert manifest["scale"] == "sample"
    assert manifest["seed"] == 0
    times = pd.to_datetime(manifest["buckets"]["times"])
    assert [t.hour for t in times] == [3, 8, 14, 20]
    assert pd.Timedelta(manifest["buckets"]["length"]) == pd.Timedelta(hours=1)
    lon0, lat0, lon1, lat1 = manifest["extent"]["bbox"]
    assert 4.0 < lon0 < 4.35 < lon1 < 4.7 and 50.6 < lat0 < 50.85 < lat1 < 51.0
    for source in manifest["sources"]:
        assert source["licence"] and source["provenance"] and source["attribution"]
    assert any("CC BY 4.0" in s["licence"] for s in manifest["sources"])
    assert manifest["software"]["geoalert"]
    assert manifest["build_seconds"] > 0


def test_same_seed_gives_identical_files(sample_world, tmp_path):
    from geoalert.demo import build_world

    (tmp_path / "store.sqlite").write_text("seeded from an older world")
    build_world(tmp_path, scale="sample", seed=0, progress=False)
    for name in DATA_FILES:
        assert (tmp_path / name).read_bytes() == (sample_world / name).read_bytes(), name
    assert not (tmp_path / "store.sqlite").exists()  # a new world drops the old world's store


def test_another_seed_gives_other_addresses():
    from geodata.synth.addresses import place_addresses
    from geodata.synth.sampling import step_rng

    munis = priors.municipalities()
    pieces = cut_grid(priors.grid().head(200), munis.geometry.values)
    counts = np.full(len(pieces), 3)
    a = place_addresses(pieces, counts, step_rng(0, "addresses"))
    b = place_addresses(pieces, counts, step_rng(0, "addresses"))
    c = place_addresses(pieces, counts, step_rng(1, "addresses"))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


# -- areas -----------------------------------------------------------------------------------


def test_areas_hierarchy_and_names(areas):
    munis = areas[areas["level"] == "municipality"]
    brussels = munis[munis["region_code"] == "04000"]
    assert len(brussels) == 19
    assert brussels["province_code"].isna().all()
    assert (brussels["parent_code"] == "04000").all()
    flemish = munis[munis["region_code"] == "02000"]
    assert len(flemish) > 10 and (flemish["parent_code"] == flemish["province_code"]).all()
    assert set(areas.loc[areas["level"] != "municipality", "code"]) == {"02000", "04000", "20001"}
    assert areas["name"].notna().all()
    by_code = areas.set_index("code")
    assert by_code.loc["21004", "name"] == "Bruxelles / Brussel"
    assert by_code.loc["21004", "name_fr"] == "Bruxelles"
    assert by_code.loc["23088", "name"] == "Vilvoorde"
    assert by_code.loc["20001", "name_de"] == "Provinz Flämisch-Brabant"
    assert pd.isna(by_code.loc["04000", "parent_code"])


def test_areas_of_the_whole_country():
    from geodata.synth.areas import build_areas

    areas = build_areas(priors.municipalities(), "EPSG:3812")
    assert areas["level"].value_counts().to_dict() == {
        "municipality": 581,
        "province": 10,
        "region": 3,
    }
    assert shapely.is_valid(areas.geometry.values).all()
    eupen = areas.set_index("code").loc["63023"]
    assert (eupen["name"], eupen["name_de"]) == ("Eupen", "Eupen")
    # The Brussels-Capital Region is a hole in Flemish Brabant; slivers between neighbours
    # are not.
    province = areas.set_index("code").loc["20001", "geometry"]
    holes = [r for p in shapely.get_parts(province) for r in p.interiors]
    assert len(holes) == 1
    region = areas.set_index("code").loc["04000", "geometry"]
    assert shapely.Polygon(holes[0]).intersection(region).area > 0.99 * region.area


def test_dissolve_fills_slivers_between_neighbours():
    left = shapely.box(0, 0, 1, 1)
    right = shapely.box(1.0001, 0, 2, 1)  # a gap 0.0001 degrees wide
    bridge = shapely.box(0.9, 0.4, 1.1, 0.6)
    ring = shapely.box(-0.1, -0.1, 2.1, 1.1).difference(shapely.box(0.5, 0.2, 1.5, 0.8))
    assert len(dissolve(np.array([left, right, bridge]), "EPSG:3812").geoms) == 1
    outline = dissolve(np.array([ring]), "EPSG:3812")
    assert outline.is_valid and len(outline.geoms[0].interiors) == 1  # a real, large hole


# -- addresses and population ----------------------------------------------------------------


def test_addresses_lie_inside_their_municipality(addresses, areas):
    outlines = areas[areas["level"] == "municipality"].set_index("code").geometry
    assert set(addresses["municipality"]) <= set(outlines.index)
    inside = shapely.contains_xy(
        outlines.loc[addresses["municipality"]].values,
        addresses.geometry.x.to_numpy(),
        addresses.geometry.y.to_numpy(),
    )
    assert inside.all()


def test_everybody_sleeps_at_an_address(truth, addresses):
    night = truth[(truth["time"].dt.hour == 3) & (truth["home_mcc"] == 206)]
    homes = pd.MultiIndex.from_arrays([addresses.geometry.x, addresses.geometry.y])
    assert pd.MultiIndex.from_arrays([night["x"], night["y"]]).isin(homes).all()


def test_night_population_follows_the_grid(truth, addresses, areas):
    """Residents per municipality against an independent area-weighted overlay of the GHSL
    squares with the outlines (the grid spread evenly inside each cell)."""
    munis = areas[areas["level"] == "municipality"]
    grid = priors.grid()
    squares = gpd.GeoDataFrame(
        {"pop": grid["pop"]},
        geometry=shapely.box(grid["x"] - 500, grid["y"] - 500, grid["x"] + 500, grid["y"] + 500),
        crs="ESRI:54009",
    )
    outlines = munis[["code", "geometry"]].to_crs("ESRI:54009")
    squares = squares[squares.intersects(shapely.box(*outlines.total_bounds))]
    pieces = gpd.overlay(squares, outlines)
    expected = (pieces["pop"] * pieces.area / 1e6).groupby(pieces["code"]).sum()
    night = truth[(truth["time"].dt.hour == 3) & (truth["home_mcc"] == 206)]
    homes = pd.DataFrame(
        {"x": addresses.geometry.x, "y": addresses.geometry.y, "code": addresses["municipality"]}
    )
    counted = night.merge(homes, on=["x", "y"], how="left")["code"].value_counts()
    assert len(night.merge(homes, on=["x", "y"])) == len(night)
    difference = counted.reindex(munis["code"], fill_value=0) - expected.reindex(munis["code"])
    assert difference.abs().max() < 2
    assert 1.2e6 < counted[munis.loc[munis["region_code"] == "04000", "code"]].sum() < 1.3e6


def test_daytime_population_moves_into_brussels(truth, areas):
    region = areas.set_index("code").loc["04000", "geometry"]
    inside = shapely.contains_xy(region, truth["x"].to_numpy(), truth["y"].to_numpy())
    by_hour = pd.Series(inside).groupby(truth["time"].dt.hour.to_numpy()).sum()
    assert by_hour[14] > 1.15 * by_hour[3]
    assert by_hour[3] < by_hour[8] < by_hour[14]
    assert by_hour[20] < by_hour[14]


def test_foreign_visitors_are_present(truth):
    foreign = truth[truth["home_mcc"] != 206]
    assert set(foreign["home_mcc"]) >= {204, 208, 234, 262, 270, 310}
    assert len(foreign) > 0.01 * len(truth)


def test_truth_times_are_the_buckets(truth, manifest):
    times = truth["time"].drop_duplicates().sort_values()
    assert str(times.dt.tz) == "Europe/Brussels"
    assert list(times) == list(pd.to_datetime(manifest["buckets"]["times"]))


# -- contacts and groups ---------------------------------------------------------------------


def test_contacts_addresses_exist(contacts, addresses):
    ids = contacts["address_ids"]
    lengths = ids.map(len)
    assert lengths.between(1, 5).all()
    assert (contacts["address_labels"].map(len) == lengths).all()
    assert (contacts["address_labels"].map(lambda labels: labels[0]) == "home").all()
    flat = np.concatenate(ids.to_numpy())
    assert np.isin(flat, addresses["address_id"].to_numpy()).all()
    assert set(np.concatenate(contacts["address_labels"].to_numpy())) == set(reg.LABELS)
    assert all(len(set(a)) == len(a) for a in ids)


def test_contacts_phones_and_emails(contacts):
    phones = contacts["phone"].dropna()
    assert phones.is_unique
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    assert all(p == phonenumbers.format_number(phonenumbers.parse(p), 0) for p in phones[:1000])
    assert {"+32", "+31", "+33", "+49", "+44", "+35"} <= {p[:3] for p in phones}
    emails = contacts["email"].dropna()
    assert emails.is_unique
    assert emails.str.fullmatch(r"[a-z]+\.[a-z]+\d+@example\.(org|com|net)").all()
    assert (contacts["phone"].notna() | contacts["email"].notna()).all()
    assert not (contacts["sms"] & contacts["phone"].isna()).any()
    assert set(contacts["language"]) == {"fr", "nl", "en"}


def test_contacts_are_about_a_tenth_of_households(contacts, addresses, manifest):
    homes = pd.Series([a[0] for a in contacts["address_ids"]])
    households = homes.nunique()
    assert 0.05 < households / len(addresses) < 0.12


def test_groups_reference_contacts_and_areas(sample_world, contacts, areas):
    groups = pd.read_parquet(sample_world / "groups.parquet")
    assert set(groups["kind"]) == {"neighbourhood", "responders"}
    assert set(groups["area_code"]) <= set(areas["code"])
    members = np.concatenate(groups["contact_ids"].to_numpy())
    assert np.isin(members, contacts["contact_id"].to_numpy()).all()
    assert groups["contact_ids"].map(len).min() >= 1


# -- helpers ---------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_round_cumulative_keeps_every_prefix_sum(values):
    values = np.array(values)
    rounded = round_cumulative(values)
    assert rounded.dtype == np.int64 and (rounded >= 0).all()
    assert np.abs(np.cumsum(rounded) - np.cumsum(values)).max() <= 0.5 + 1e-6 * values.sum()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.floats(0, 10, allow_nan=False)), min_size=1),
    st.integers(0, 2**32 - 1),
)
def test_grouped_choice_stays_in_its_group_and_skips_zero_weights(items, seed):
    items.sort(key=lambda t: t[0])
    group = np.array([g for g, _ in items])
    weight = np.array([w for _, w in items])
    choice = GroupedChoice(group, weight, 5)
    total = np.bincount(group, weight, minlength=5)
    choosers = np.repeat(np.flatnonzero(total > 0), 20)
    picked = choice.choose(choosers, np.random.default_rng(seed))
    assert (group[picked] == choosers).all()
    assert (weight[picked] > 0).all()
    if (total == 0).any():
        with pytest.raises(ValueError, match="without weight"):
            choice.choose(np.flatnonzero(total == 0)[:1], np.random.default_rng(seed))


def test_grouped_choice_follows_the_weights():
    choice = GroupedChoice(np.array([0, 0, 0, 1]), np.array([1.0, 0.0, 3.0, 2.0]), 2)
    picked = choice.choose(np.zeros(40_000, dtype=np.int64), np.random.default_rng(0))
    share = np.bincount(picked, minlength=4) / len(picked)
    assert share[1] == 0 and share[3] == 0
    assert abs(share[0] - 0.25) < 0.01


def test_grouped_choice_rejects_unsorted_groups():
    with pytest.raises(ValueError, match="sorted by group"):
        GroupedChoice(np.array([1, 0]), np.array([1.0, 1.0]), 2)


@pytest.mark.parametrize(
    "ranges",
    [reg.BE_MOBILE, *reg.BE_LANDLINE.values(), *reg.FOREIGN_MOBILE.values()],
)
def test_phone_ranges_are_valid_and_distinct(ranges):
    by_digits = {}
    for prefix, digits in ranges:
        by_digits.setdefault(digits, []).append((prefix, digits))
    for same in by_digits.values():
        numbers = reg.number_range(same, 3000, np.random.default_rng(0))
        assert len(set(numbers)) == len(numbers)
        assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in numbers)


def test_number_range_refuses_more_numbers_than_it_holds():
    with pytest.raises(ValueError, match="range of 10"):
        reg.number_range([("+3247", 1)], 11, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"scale": "regional"}, "scale must be one of"), ({"seed": -1}, "seed must be")],
)
def test_build_world_rejects_bad_arguments(tmp_path, kwargs, match):
    from geoalert.demo import build_world

    with pytest.raises(ValueError, match=match):
        build_world(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_cut_grid_shares_population_by_area():
    munis = priors.municipalities()
    grid = priors.grid()
    pieces = cut_grid(grid, munis.geometry.values)
    per_cell = np.bincount(pieces.cell, pieces.area_km2, minlength=len(grid))
    inland = per_cell[np.unique(pieces.cell[pieces.full])]
    assert np.allclose(inland, 1.0, atol=0.02)  # whole squares inside Belgium sum to 1 km²
    assert abs(pieces.pop.sum() / 11.55e6 - 1) < 0.01
    # Pieces are in the metric areas' ratio: a check against pyproj's geodesic area.
    partial = np.flatnonzero(~pieces.full)[:50]
    geod = pyproj.Geod(ellps="WGS84")
    areas = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in pieces.geometry[partial]])
    assert np.allclose(areas / 1e6, pieces.area_km2[partial], rtol=0.02, atol=1e-3)


# -- presence against truth ------------------------------------------------------------------


def test_presence_counts_relate_to_truth(sample_world, truth):
    """Devices per bucket = people x devices per person x switched-on share, with the
    simulation's own parameters (noise and sampling keep the totals within 2 %)."""
    from cells.synth.presence import (
        CHILD_SHARE,
        DEVICES,
        ELDERLY_SHARE,
        OFF_SHARE_BY_HOUR,
    )

    def mean(klass):
        return DEVICES[klass][1] + 2 * DEVICES[klass][2]

    per_resident = (
        CHILD_SHARE * mean("child")
        + ELDERLY_SHARE * mean("elderly")
        + (1 - CHILD_SHARE - ELDERLY_SHARE) * mean("adult")
    )
    presence = pd.read_parquet(sample_world / "presence.parquet")
    cells = pd.read_parquet(sample_world / "cells.parquet", columns=["cell_id"])
    assert (presence["devices"] >= 0).all()
    domestic = presence[presence["home_mcc"] == 206]
    assert (domestic.groupby("time").size() == len(cells)).all()
    assert set(presence["home_mcc"]) <= set(truth["home_mcc"])
    people = truth.groupby(["time", truth["home_mcc"] == 206]).size().unstack()
    devices = presence.groupby(["time", presence["home_mcc"] == 206])["devices"].sum().unstack()
    for time in people.index:
        on = 1 - OFF_SHARE_BY_HOUR[time.hour]
        expected_home = people.loc[time, True] * per_resident * on
        expected_roaming = people.loc[time, False] * mean("visitor") * on
        assert devices.loc[time, True] == pytest.approx(expected_home, rel=0.02)
        assert devices.loc[time, False] == pytest.approx(expected_roaming, rel=0.05)


def test_presence_follows_people_into_brussels(sample_world, areas):
    presence = pd.read_parquet(sample_world / "presence.parquet")
    cells = pd.read_parquet(
        sample_world / "cells.parquet", columns=["cell_id", "site_lon", "site_lat"]
    )
    region = areas.set_index("code").loc["04000", "geometry"]
    inside = cells.loc[shapely.contains_xy(region, cells["site_lon"], cells["site_lat"]), "cell_id"]
    hour = presence["time"].dt.hour
    in_brussels = presence[presence["cell_id"].isin(inside)].groupby(hour)["devices"].sum()
    assert in_brussels[14] > 1.1 * in_brussels[3]


def test_day_states_are_distributions():
    from geodata.synth.day import BUCKET_HOURS, STATES
    from geodata.synth.people import DAY_VISITOR

    assert sorted(STATES) == sorted(BUCKET_HOURS)
    for table in STATES.values():
        table = np.asarray(table)
        assert table.shape == (DAY_VISITOR + 1, 5)
        assert np.allclose(table.sum(axis=1), 1.0) and (table >= 0).all()


def test_demo_data_command_rejects_an_unknown_scale(tmp_path):
    from typer.testing import CliRunner

    from geoalert.cli import app

    result = CliRunner().invoke(app, ["demo-data", "--scale", "regional", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "regional" in result.output
    assert not any(tmp_path.iterdir())
