"""Present population: allocations, calibration, publication (k-anonymity, differencing)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from cells.presence import PresenceError, read_presence
from geoalert.population.allocation import BestServer, Blend, CellPlan, SignalPrior
from geoalert.population.calibration import Calibration, night_bucket
from geoalert.population.grid import Grid, polygon_edges, row_prefix_sums, zone_sums
from geoalert.population.index import RawEstimate
from geoalert.population.privacy import NoiseField, Publisher, nice_step

# -- a small network, built in metres then given to the code in lon/lat ----------------------

CRS = "EPSG:3812"


def _toy_cells() -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Two operators, four three-sector sites each, and 2,000 addresses."""
    rng = np.random.default_rng(3)
    rows = []
    for op in ("01", "10"):
        for s in range(4):
            sx, sy = 650_000 + rng.uniform(-2000, 2000), 665_000 + rng.uniform(-2000, 2000)
            for az in (0.0, 120.0, 240.0):
                angles = np.radians(np.linspace(az - 70, az + 70, 15))
                ring = [(sx, sy)] + [(sx + 2500 * np.sin(a), sy + 2500 * np.cos(a)) for a in angles]
                rows.append(
                    {
                        "cell_id": f"206-{op}-{s}-{int(az)}",
                        "operator": op,
                        "site_id": f"S{s}",
                        "azimuth": az,
                        "range_m": 2500.0,
                        "site_x": sx,
                        "site_y": sy,
                        "geometry": shapely.Polygon(ring),
                    }
                )
    cells = gpd.GeoDataFrame(rows, crs=CRS).to_crs(4326)
    site = gpd.GeoSeries(gpd.points_from_xy(cells["site_x"], cells["site_y"]), crs=CRS).to_crs(4326)
    cells["site_lon"], cells["site_lat"] = site.x.to_numpy(), site.y.to_numpy()
    pts = gpd.GeoSeries(
        gpd.points_from_xy(rng.normal(650_000, 1500, 2000), rng.normal(665_000, 1500, 2000)),
        crs=CRS,
    ).to_crs(4326)
    return cells, np.column_stack((pts.x, pts.y))


@pytest.fixture(scope="module")
def plan() -> CellPlan:
    cells, xy = _toy_cells()
    return CellPlan.build(cells, xy[:, 0], xy[:, 1], metric_crs=CRS, tile_m=200.0)


ESTIMATORS = [
    BestServer(prior="area"),
    BestServer(prior="addresses"),
    SignalPrior(prior="addresses"),
    SignalPrior(prior="area", steepness=0.1),
    Blend(BestServer(prior="addresses"), SignalPrior()),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: f"{e.name}-{e.id}")
def test_allocations_keep_every_device(plan, estimator):
    """P(tile | cell) sums to one over each cell's coverage and never leaves it."""
    alloc = estimator.allocate(plan)
    assert (alloc.weight >= 0).all()
    assert np.bincount(alloc.cell, weights=alloc.weight) == pytest.approx(np.ones(plan.n_cells))
    devices = np.arange(1, plan.n_cells + 1, dtype=float)[:, None]
    assert alloc.spread(devices, plan.grid.n_tiles).sum() == pytest.approx(devices.sum())
    covered = set(zip(plan.pair_cell.tolist(), plan.pair_tile.tolist(), strict=True))
    used = alloc.weight > 0
    assert set(zip(alloc.cell[used].tolist(), alloc.tile[used].tolist(), strict=True)) <= covered


def test_best_server_gives_each_tile_to_one_site_per_operator(plan):
    alloc = BestServer(prior="area").allocate(plan)
    used = alloc.weight > 0
    key = alloc.tile[used] * 10 + plan.operator[alloc.cell[used]]
    site = plan.site[alloc.cell[used]]
    owners = pd.Series(site).groupby(key).nunique()
    assert owners.max() == 1


def test_address_prior_multiplies_the_likelihood(plan):
    """Posterior = prior x likelihood, renormalised per cell: against the even prior, each
    tile's weight grows in proportion to its addresses (plus the floor)."""
    with_addresses = SignalPrior(prior="addresses", floor=0.1).allocate(plan)
    even = SignalPrior(prior="area").allocate(plan)
    ratio = with_addresses.weight / even.weight
    addresses = plan.addresses[even.tile]
    for cell in range(plan.n_cells):
        mine = even.cell == cell
        a = addresses[mine]
        prior = a + 0.1 * a.mean()
        assert ratio[mine] / ratio[mine].mean() == pytest.approx(prior / prior.mean())


def test_estimator_ids_are_deterministic_and_distinct():
    assert BestServer().id == BestServer().id
    assert len({e.id for e in ESTIMATORS}) == len(ESTIMATORS)


def test_calibration_recovers_devices_per_person():
    operator = np.array([0, 0, 1, 2, 2])
    domestic = np.array([[10, 20, 30, 25, 15], [5, 5, 20, 10, 0]])
    cal = Calibration.from_counts(domestic, np.zeros_like(domestic), operator, 3, residents=50)
    assert cal.devices_per_person == pytest.approx([2.0, 2.0])  # the night's, for every bucket
    night = Calibration.from_counts(domestic, domestic * 0, operator, 3, residents=50, night=1)
    assert night.devices_per_person == pytest.approx([0.8, 0.8])
    assert cal.operator_share[0] == pytest.approx([0.3, 0.3, 0.4])
    times = pd.DatetimeIndex(["2024-03-12 20:00", "2024-03-12 03:00", "2024-03-12 08:00"])
    assert night_bucket(times.tz_localize("Europe/Brussels")) == 1
    with pytest.raises(ValueError, match="resident population must be positive"):
        Calibration.from_counts(domestic, domestic * 0, operator, 3, residents=0)


# -- presence feed ---------------------------------------------------------------------------


def _write_presence(path, rows):
    frame = pd.DataFrame(rows, columns=["cell_id", "operator", "time", "home_mcc", "devices"])
    frame.to_parquet(path)
    return path


T0 = pd.Timestamp("2025-03-12 03:00", tz="Europe/Brussels")


def test_read_presence_aligns_cells_and_buckets(tmp_path):
    path = _write_presence(
        tmp_path / "p.parquet",
        [
            ("b", "01", T0, 206, 7),
            ("a", "01", T0 + pd.Timedelta(hours=11), 206, 3),
            ("a", "01", T0, 206, 0),
            ("a", "01", T0, 208, 2),
            ("b", "01", T0 + pd.Timedelta(hours=11), 262, 4),
        ],
    )
    p = read_presence(path, np.array(["a", "b", "c"]))
    assert p.domestic.tolist() == [[0, 7, 0], [3, 0, 0]]
    assert p.roaming_mcc.tolist() == [208, 262]
    assert p.roaming[0, 0].tolist() == [2, 0] and p.roaming[1, 1].tolist() == [0, 4]
    assert p.bucket_length == pd.Timedelta(hours=1)  # the world schema's, unless stated
    assert p.bucket_at(T0 + pd.Timedelta(hours=11, minutes=5)) == 1
    assert p.bucket_at(T0 + pd.Timedelta(hours=1)) == -1
    assert p.bucket_at(T0 - pd.Timedelta(minutes=1)) == -1


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("z", "01", T0, 206, 1)], "not in cells.parquet"),
        ([("a", "01", T0, 206, -1)], "negative device counts"),
        ([("a", "01", T0.tz_localize(None), 206, 1)], "must be timezone-aware"),
        ([("a", "01", T0, None, 1)], "'home_mcc' has nulls"),
    ],
)
def test_read_presence_refuses_bad_feeds(tmp_path, rows, message):
    path = _write_presence(tmp_path / "p.parquet", rows)
    with pytest.raises(PresenceError, match=message):
        read_presence(path, np.array(["a"]))


def test_read_presence_names_missing_columns(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"cell_id": ["a"], "devices": [1]}).to_parquet(path)
    with pytest.raises(PresenceError, match="cannot read columns"):
        read_presence(path, np.array(["a"]))


# -- publication -----------------------------------------------------------------------------


def test_nice_step():
    assert [nice_step(v) for v in (0, 1, 1.5, 15, 20, 21, 99, 100, 101, 4000)] == [
        1, 1, 2, 20, 20, 50, 100, 100, 200, 5000,
    ]  # fmt: skip


def test_noise_field_is_consistent_and_keyed():
    grid = Grid.covering((0, 0, 2000, 2000), 100)
    a = NoiseField(grid, b"k", sd=15).prefix("t0")
    assert np.array_equal(a, NoiseField(grid, b"k", sd=15).prefix("t0"))
    assert not np.array_equal(a, NoiseField(grid, b"other", sd=15).prefix("t0"))
    assert not np.array_equal(a, NoiseField(grid, b"k", sd=15).prefix("t1"))
    per_tile = np.diff(a[..., 0], axis=1)
    assert abs(per_tile.mean()) < 1.5 and 14 < per_tile.std() < 16


def _raw(people: float, devices=(300.0, 200.0, 5.0), roamers=None) -> RawEstimate:
    return RawEstimate(
        at=T0,
        people=people,
        operator_people=np.array([people * 1.05, people * 0.97, people]),
        alternative=people * 1.02,
        devices=np.array(devices),
        roamers=roamers or {208: 40.0, 262: 3.0},
        method={"name": "test", "id": "0123"},
    )


OPERATORS = {"01": "Proximus", "10": "Orange Belgium", "20": "Telenet/BASE"}


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0, 1e6),
    st.lists(st.floats(0, 1e5), min_size=3, max_size=3),
    st.dictionaries(st.integers(200, 750), st.floats(0, 1e4), max_size=6),
    st.floats(-1e3, 1e3),
    st.integers(1, 100),
)
def test_no_published_count_is_below_k(people, devices, roamers, noise, k):
    pub = Publisher(k=k, secret=b"s")
    out = pub.publish(_raw(people, devices, roamers), noise, noise**2, 1.2, OPERATORS)
    counts = [out["estimate"], *out["by_operator"].values(), *out["roamers_by_country"].values()]
    assert all(c is None or c >= k for c in counts)
    assert out["low"] <= (out["estimate"] or 0) <= out["high"]
    assert out["low"] >= 0


def test_published_numbers_are_rounded_to_a_step_growing_with_uncertainty():
    pub = Publisher(k=15, secret=b"s")
    small = pub.publish(_raw(800.0), 3.0, 225.0, 1.2, OPERATORS)
    large = pub.publish(_raw(80_000.0), -30.0, 22500.0, 1.2, OPERATORS)
    for out in (small, large):
        assert out["rounded_to"] >= 15
        assert all(out[key] % out["rounded_to"] == 0 for key in ("estimate", "low", "high"))
    assert large["rounded_to"] >= 20 * small["rounded_to"]
    assert large["high"] - large["low"] > 20 * (small["high"] - small["low"])
    assert small["by_operator"]["20"] is None  # 5 devices: below k
    assert "DE" not in small["roamers_by_country"]  # 3 people: below k


def test_differencing_overlapping_zones_reveals_nothing_below_k():
    """The attack of FlowKit's users: zones A and B = A + a small area S differ by S's count.

    Over 20 places S, each holding a group of 8 people on top of 20 per tile, the attacker
    averages the published differences of 60 pairs (A, B) of different sizes. Without noise
    (rounding alone, the rounding errors of different pairs average out) the attack recovers
    S's count within a person or two; with the consistent noise per tile it stays blurred by
    about k, so it cannot tell 8 people from none.
    """
    grid = Grid.covering((0, 0, 4000, 4000), 100)
    density = np.full((1, grid.ny, grid.nx), 20.0)
    rng = np.random.default_rng(1)
    places = rng.integers(5, 20, size=(20, 2))
    density[0, places[:, 1], places[:, 0]] += 8.0
    prefix = row_prefix_sums(density)

    def raw_people(zone) -> float:
        edges, _ = polygon_edges(np.array([zone]))
        return float(zone_sums(grid, prefix, edges, 4)[0])

    def attack(noise_sd: float) -> np.ndarray:
        field = NoiseField(grid, b"secret", sd=noise_sd)
        pub = Publisher(k=15, secret=b"secret")

        def published(zone) -> int:
            edges, _ = polygon_edges(np.array([zone]))
            noise = float(zone_sums(grid, field.prefix("t"), edges, 4)[0])
            out = pub.publish(
                _raw(raw_people(zone)), noise, field.variance(zone.area), 1.2, OPERATORS
            )
            return out["estimate"]

        errors = []
        for col, row in places:
            s = shapely.box(col * 100, row * 100, (col + 1) * 100, (row + 1) * 100)
            truth = raw_people(s)
            guesses = []
            for width in np.linspace(600, 1500, 60):
                a = shapely.box(
                    (col + 1) * 100, row * 100, (col + 1) * 100 + width, (row + 1) * 100 + width / 2
                )
                guesses.append(published(shapely.union(a, s)) - published(a))
            errors.append(np.mean(guesses) - truth)
        return np.array(errors)

    assert np.sqrt(np.mean(attack(noise_sd=0.0) ** 2)) < 4  # the attack works on rounding alone
    assert np.sqrt(np.mean(attack(noise_sd=15.0) ** 2)) > 10  # and fails against the noise


def test_same_question_same_answer():
    pub = Publisher(k=15, secret=b"s")
    assert pub.publish(_raw(1234.5), 4.0, 225.0, 1.2, OPERATORS) == pub.publish(
        _raw(1234.5), 4.0, 225.0, 1.2, OPERATORS
    )
