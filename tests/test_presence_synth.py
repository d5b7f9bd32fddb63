"""Presence simulation: operators' per-cell device counts relate to the truth as designed.

A small world of its own (a town on a population hill in the Ardennes, away from the real BIPT
surveys): a synthetic 1 km grid, its network, and people placed by the grid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from cells.identity import OPERATORS
from cells.synth import presence
from cells.synth.attachment import LATTICE_DEG
from cells.synth.network import METRIC_CRS, synthesize_cells

BOX = (5.50, 50.00, 5.80, 50.20)
TIMES = [pd.Timestamp(f"2024-03-12 {h:02d}:00", tz="Europe/Brussels") for h in (3, 14)]
VISITOR_MCC = (204, 262)
N_PEOPLE = 60_000


@pytest.fixture(scope="module")
def town():
    to_lonlat = pyproj.Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    extent = shapely.box(*BOX)
    cx, cy = to_metric.transform((BOX[0] + BOX[2]) / 2, (BOX[1] + BOX[3]) / 2)
    gx, gy = np.meshgrid(
        np.arange(cx - 12_000, cx + 12_500, 1_000), np.arange(cy - 12_000, cy + 12_500, 1_000)
    )
    lon, lat = to_lonlat.transform(gx.ravel(), gy.ravel())
    r2 = (gx.ravel() - cx) ** 2 + (gy.ravel() - cy) ** 2
    pop = 4_000 * np.exp(-r2 / (2 * 2_500.0**2)) + 40
    grid = pd.DataFrame({"lon": lon, "lat": lat, "x": gx.ravel(), "y": gy.ravel(), "pop": pop})
    grid = grid[shapely.contains_xy(extent, grid["lon"], grid["lat"])].assign(
        built_m2=lambda t: 40 * t["pop"], cell_km2=1.0
    )
    cells = synthesize_cells(grid.reset_index(drop=True), extent, seed=3)

    rng = np.random.default_rng(11)
    home = rng.choice(len(grid), N_PEOPLE, p=grid["pop"] / grid["pop"].sum())
    x = grid["x"].to_numpy()[home] + rng.uniform(-500, 500, N_PEOPLE)
    y = grid["y"].to_numpy()[home] + rng.uniform(-500, 500, N_PEOPLE)
    # by day a third of the people work in the town centre
    commute = rng.random(N_PEOPLE) < 1 / 3
    dx = np.where(commute, cx + rng.normal(0, 800, N_PEOPLE), x)
    dy = np.where(commute, cy + rng.normal(0, 800, N_PEOPLE), y)
    person_id = rng.permutation(np.arange(10, 10 + 3 * N_PEOPLE, 3, dtype=np.int64))
    home_mcc = np.where(rng.random(N_PEOPLE) < 0.03, rng.choice(VISITOR_MCC, N_PEOPLE), 206).astype(
        np.int16
    )
    night = to_lonlat.transform(x, y)
    day = to_lonlat.transform(dx, dy)
    truth = [
        (TIMES[0], person_id, night[0], night[1], home_mcc),
        (TIMES[1], person_id, day[0], day[1], home_mcc),
    ]
    return cells, truth


@pytest.fixture(scope="module")
def counts(town):
    cells, truth = town
    return presence.simulate_presence(iter(truth), cells, seed=5)


def expected_devices(home_mcc: np.ndarray) -> float:
    """Mean devices carried, from the simulation's stated parameters."""
    mean = {k: p[1] + 2 * p[2] for k, p in presence.DEVICES.items()}
    resident = (
        presence.CHILD_SHARE * mean["child"]
        + presence.ELDERLY_SHARE * mean["elderly"]
        + (1 - presence.CHILD_SHARE - presence.ELDERLY_SHARE) * mean["adult"]
    )
    n_res = (home_mcc == 206).sum()
    return n_res * resident + (home_mcc.size - n_res) * mean["visitor"]


def test_schema(town, counts):
    cells, _ = town
    assert list(counts.columns) == ["cell_id", "operator", "time", "home_mcc", "devices"]
    assert str(counts["time"].dtype) == "datetime64[ns, Europe/Brussels]"
    assert counts["home_mcc"].dtype == np.int16 and counts["devices"].dtype == np.int32
    assert (counts["devices"] >= 0).all()
    assert not counts.duplicated(["cell_id", "time", "home_mcc"]).any()
    # every (cell, time) has its home-MCC row, roaming rows only with devices
    home = counts[counts["home_mcc"] == 206]
    assert len(home) == len(cells) * len(TIMES)
    assert set(home["cell_id"]) == set(cells["cell_id"])
    assert (counts.loc[counts["home_mcc"] != 206, "devices"] > 0).all()
    assert set(counts["home_mcc"]) == {206, *VISITOR_MCC}
    operator = cells.set_index("cell_id")["operator"]
    assert (counts["operator"].to_numpy() == operator[counts["cell_id"]].to_numpy()).all()


def test_totals_follow_people_devices_and_switched_on_share(town, counts):
    _, truth = town
    per_time = counts.groupby("time")["devices"].sum()
    for time, _, _, _, home_mcc in truth:
        on = 1 - presence.OFF_SHARE_BY_HOUR[time.hour]
        expected = expected_devices(home_mcc) * on
        assert per_time[time] == pytest.approx(expected, rel=0.02)


def test_operators_by_market_share_roamers_on_any(counts):
    residents = counts[counts["home_mcc"] == 206].groupby("operator")["devices"].sum()
    roamers = counts[counts["home_mcc"] != 206].groupby("operator")["devices"].sum()
    for op in OPERATORS:
        assert residents[op] / residents.sum() == pytest.approx(
            presence.MARKET_SHARE[op], abs=0.015
        )
        assert roamers[op] / roamers.sum() == pytest.approx(presence.ROAMING_SHARE[op], abs=0.05)


def test_counts_follow_the_truth_inside_coverage(town, counts):
    """Devices of a cell rise with the people inside its coverage (rank correlation within
    each operator's 800 and 1800 MHz layers, which carry most devices), and by day the
    town's cells fill up while the outskirts empty."""
    cells, truth = town
    for time, _, lon, lat, _ in truth:
        tree = shapely.STRtree(shapely.points(lon, lat))
        cell, _ = tree.query(cells.geometry.values, predicate="contains")
        people = pd.Series(np.bincount(cell, minlength=len(cells)))
        got = counts[counts["time"] == time].groupby("cell_id")["devices"].sum()
        devices = pd.Series(got.reindex(cells["cell_id"]).to_numpy())
        for (op, band), idx in cells.groupby(["operator", "band"]).indices.items():
            if band in ("B20 800", "B3 1800"):
                r = people[idx].corr(devices[idx], method="spearman")
                assert r > 0.55, f"{op} {band} at {time}: devices vs people in coverage {r:.2f}"
    centre = cells["range_m"] < cells["range_m"].quantile(0.25)
    by_time = counts[counts["cell_id"].isin(cells.loc[centre, "cell_id"])].groupby("time")[
        "devices"
    ]
    assert by_time.sum()[TIMES[1]] > 1.2 * by_time.sum()[TIMES[0]]


def test_attachment_within_coverage_and_spread(town):
    """Everybody on one spot: devices land only on cells covering it (to the lattice's
    precision), on more than one cell per operator, mostly on the stronger ones."""
    cells, _ = town
    spot = cells.geometry.values[len(cells) // 2].representative_point()
    n = 20_000
    truth = [
        (
            TIMES[1],
            np.arange(n, dtype=np.int64),
            np.full(n, spot.x),
            np.full(n, spot.y),
            np.full(n, 206, np.int16),
        )
    ]
    got = presence.simulate_presence(iter(truth), cells, seed=1)
    used = got[got["devices"] > 0].merge(cells[["cell_id", "geometry"]], on="cell_id")
    lattice_m = 111_320 * np.hypot(LATTICE_DEG[0] * np.cos(np.radians(spot.y)), LATTICE_DEG[1])
    gap_deg = shapely.distance(shapely.points(spot.x, spot.y), used["geometry"].values)
    assert (gap_deg * 111_320 <= lattice_m).all()
    per_op = used.groupby("operator")["devices"]
    assert (per_op.count() >= 2).all()
    assert (per_op.max() / per_op.sum() < 0.97).all()


def test_same_person_same_devices_whatever_the_company(town):
    _, truth = town
    _, person_id, _, _, home_mcc = truth[0]
    p_all, s_all, o_all = presence.devices(person_id, home_mcc, seed=5)
    some = np.arange(0, person_id.size, 7)
    p_some, s_some, o_some = presence.devices(person_id[some], home_mcc[some], seed=5)
    full = pd.DataFrame({"person": person_id[p_all], "slot": s_all, "op": o_all})
    part = pd.DataFrame({"person": person_id[some][p_some], "slot": s_some, "op": o_some})
    expected = full[full["person"].isin(person_id[some])]
    pd.testing.assert_frame_equal(
        part.sort_values(["person", "slot"], ignore_index=True),
        expected.sort_values(["person", "slot"], ignore_index=True),
    )
    other = presence.devices(person_id, home_mcc, seed=6)
    assert not np.array_equal(other[2][: o_all.size], o_all[: other[2].size])


def test_deterministic(town, counts):
    cells, truth = town
    again = presence.simulate_presence(iter(truth), cells, seed=5)
    pd.testing.assert_frame_equal(counts, again)
    other = presence.simulate_presence(iter(truth), cells, seed=6)
    assert not other["devices"].equals(counts["devices"])


def test_no_buckets_gives_an_empty_feed(town):
    cells, _ = town
    empty = presence.simulate_presence(iter([]), cells, seed=0)
    assert empty.empty and list(empty.columns) == [
        "cell_id",
        "operator",
        "time",
        "home_mcc",
        "devices",
    ]


@pytest.mark.parametrize(
    ("bucket", "message"),
    [
        ((pd.Timestamp("2024-03-12 03:00"), [1], [5.6], [50.1], [206]), "timezone-aware"),
        ((TIMES[0], [1, 2], [5.6], [50.1], [206]), "shapes differ"),
        ((TIMES[0], [1], [np.nan], [50.1], [206]), "1 position"),
        ((TIMES[0], [1], [5.6]), "must be"),
    ],
)
def test_bad_buckets_are_refused(town, bucket, message):
    cells, _ = town
    with pytest.raises(ValueError, match=message):
        presence.simulate_presence(iter([bucket]), cells, seed=0)


def test_repeated_bucket_and_bad_cells_are_refused(town):
    cells, truth = town
    with pytest.raises(ValueError, match="given twice"):
        presence.simulate_presence(iter([truth[0], truth[0]]), cells, seed=0)
    with pytest.raises(ValueError, match="lack column"):
        presence.simulate_presence(iter(truth), cells.drop(columns="range_m"), seed=0)
    with pytest.raises(ValueError, match="none for"):
        presence.simulate_presence(iter(truth), cells[cells["operator"] != "10"], seed=0)


def test_sample_world_presence_relates_to_truth(sample_world):
    """The sample world's feed: every bucket's devices match the people present times the
    devices they carry and the share switched on; operators by market share; roamers by the
    visitors' home countries; per-cell counts rise with the people in coverage."""
    import geopandas as gpd
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    feed = pd.read_parquet(sample_world / "presence.parquet")
    cells = gpd.read_parquet(sample_world / "cells.parquet")
    truth = pq.read_table(sample_world / "truth.parquet", columns=["time", "home_mcc", "geometry"])
    when = truth["time"].to_pandas()
    mcc = truth["home_mcc"].to_numpy()
    assert set(feed["cell_id"]) == set(cells["cell_id"])
    for time, rows in when.groupby(when).indices.items():
        got = feed[feed["time"] == time]
        on = 1 - presence.OFF_SHARE_BY_HOUR[time.hour]
        assert got["devices"].sum() == pytest.approx(expected_devices(mcc[rows]) * on, rel=0.01)
        assert set(got.loc[got["home_mcc"] != 206, "home_mcc"]) <= set(mcc[rows])
        assert (got["home_mcc"] == 206).sum() == len(cells)
    residents = feed[feed["home_mcc"] == 206].groupby("operator")["devices"].sum()
    for op, share in presence.MARKET_SHARE.items():
        assert residents[op] / residents.sum() == pytest.approx(share, abs=0.01)

    afternoon = np.flatnonzero((when.dt.hour == 14).to_numpy())[::10]
    xy = pc.take(truth["geometry"], afternoon)
    points = shapely.points(
        pc.struct_field(xy, "x").to_numpy(), pc.struct_field(xy, "y").to_numpy()
    )
    b20 = cells[(cells["band"] == "B20 800") & (cells["operator"] == "01")]
    cell, _ = shapely.STRtree(points).query(b20.geometry.values, predicate="contains")
    people = pd.Series(np.bincount(cell, minlength=len(b20)))
    got = feed[feed["time"].dt.hour == 14].groupby("cell_id")["devices"].sum()
    devices = pd.Series(got.reindex(b20["cell_id"]).to_numpy())
    assert people.corr(devices, method="spearman") > 0.55
