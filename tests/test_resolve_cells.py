"""Zones to cells: exact against a brute-force oracle and PostGIS, policies, result shape.

Cells come from a synthetic world of sector wedges written in the world schema (with real
municipality and province outlines), so that these tests do not need the demo world.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geoalert
from cells.index import CellIndex
from cells.predicates import flat_rings, zone_raster
from geoalert.zones import ZoneError

OPERATORS = {"01": "Proximus", "10": "Orange Belgium", "20": "Telenet/BASE"}
#: Synthetic world: a box around Brussels and Walloon/Flemish Brabant.
BOX = (4.0, 50.6, 4.8, 51.0)


def sector_cells(n_sites: int, box: tuple[float, float, float, float], seed: int = 0):
    """Sector coverage wedges (3 per site, 20-40 vertices) in the ``cells.parquet`` schema."""
    rng = np.random.default_rng(seed)
    rows, geoms = [], []
    for site in range(n_sites):
        lon, lat = rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])
        op = list(OPERATORS)[site % 3]
        reach = rng.uniform(300, 4000)
        first = rng.uniform(0, 360)
        for sector in range(3):
            azimuth = (first + 120 * sector) % 360
            k = int(rng.integers(18, 38))
            angle = np.radians(np.linspace(azimuth - 60, azimuth + 60, k))
            dx = reach * np.sin(angle) / (111_320 * np.cos(np.radians(lat)))
            dy = reach * np.cos(angle) / 111_320
            ring = np.vstack([[lon, lat], np.column_stack([lon + dx, lat + dy]), [lon, lat]])
            geoms.append(shapely.Polygon(ring))
            rows.append(
                {
                    "cell_id": f"206-{op}-{10000 + site}-{sector + 1}",
                    "mcc": np.int16(206),
                    "operator": op,
                    "operator_name": OPERATORS[op],
                    "site_id": f"S{site:05d}",
                    "radio": "4G",
                    "band": "B20 800",
                    "freq_mhz": np.int16(800),
                    "azimuth": azimuth,
                    "site_lon": lon,
                    "site_lat": lat,
                    "range_m": reach,
                }
            )
    return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from geodata import priors
    from geodata.synth.areas import build_areas

    out = tmp_path_factory.mktemp("cells_world")
    build_areas(priors.municipalities(), "EPSG:3812").to_parquet(out / "areas.parquet")
    sector_cells(1500, BOX).to_parquet(out / "cells.parquet")
    # No addresses nor presence: empty layers keep the world loadable into PostGIS.
    addresses = {"address_id": np.zeros(0, np.int64), "municipality": np.zeros(0, str)}
    gpd.GeoDataFrame(addresses, geometry=[], crs="EPSG:4326").to_parquet(out / "addresses.parquet")
    presence = {
        "cell_id": np.zeros(0, str),
        "operator": np.zeros(0, str),
        "time": pd.to_datetime(np.zeros(0, "datetime64[ns]")).tz_localize("Europe/Brussels"),
        "home_mcc": np.zeros(0, np.int16),
        "devices": np.zeros(0, np.int32),
    }
    pd.DataFrame(presence).to_parquet(out / "presence.parquet")
    return out


@pytest.fixture(scope="module")
def engine(world):
    return geoalert.Engine.open(world, include=["cells"])


@pytest.fixture(scope="module")
def cells(engine) -> CellIndex:
    return engine.indexes["cells"].index


def oracle(cells: CellIndex, zone, operators=None) -> list[str]:
    """Brute force: GEOS intersects on every cell, no index, no shortcut."""
    hit = shapely.intersects(cells.geometry, zone)
    if operators is not None:
        hit &= np.isin(cells.operator, operators)
    return sorted(cells.cell_id[hit].tolist())


def resolved(engine, zone, **kwargs) -> list[str]:
    res = engine.resolve(zone, include=["cells"], **kwargs)
    return sorted(c["cell_id"] for c in res.to_dict()["cells"])


def test_municipalities_and_provinces_match_the_oracle(engine, cells):
    areas = engine.store.read_areas()
    inside = areas.cx[BOX[0] : BOX[2], BOX[1] : BOX[3]]
    codes = inside["code"].tolist()
    assert len(codes) > 40
    for code in codes:
        res = engine.resolve({"area": code}, include=["cells"])
        expected = oracle(cells, engine.areas[code])
        assert sorted(res["cells"].cell_ids.tolist()) == expected, code


@pytest.mark.parametrize("radius_m", [150, 1_000, 7_500, 30_000])
def test_circles_match_the_oracle(engine, cells, radius_m):
    rng = np.random.default_rng(radius_m)
    for lon, lat in rng.uniform(BOX[:2], BOX[2:], (15, 2)):
        zone = {"circle": {"lon": lon, "lat": lat, "radius_m": radius_m}}
        res = engine.resolve(zone, include=["cells"])
        assert sorted(res["cells"].cell_ids.tolist()) == oracle(cells, res.zone.geometry)


def test_corridors_match_the_oracle(engine, cells):
    rng = np.random.default_rng(7)
    for _ in range(15):
        line = rng.uniform(BOX[:2], BOX[2:], (int(rng.integers(2, 6)), 2)).tolist()
        zone = {"corridor": {"line": {"type": "LineString", "coordinates": line}, "width_m": 300}}
        res = engine.resolve(zone, include=["cells"])
        assert sorted(res["cells"].cell_ids.tolist()) == oracle(cells, res.zone.geometry)


def _touching_zone(cells: CellIndex, data) -> shapely.Polygon:
    """A zone sharing a vertex or an edge with a cell, lying on either side of it."""
    i = data.draw(st.integers(0, len(cells) - 1))
    ring = shapely.get_coordinates(cells.geometry[i].exterior)
    j = data.draw(st.integers(0, len(ring) - 2))
    a, b = ring[j], ring[j + 1]
    size = data.draw(st.floats(1e-4, 0.05))
    side = data.draw(st.sampled_from([-1.0, 1.0]))
    normal = np.array([-(b - a)[1], (b - a)[0]])
    normal = side * size * normal / (np.hypot(*normal) or 1.0)
    if data.draw(st.booleans()):  # shares the edge a-b
        return shapely.Polygon([a, b, b + normal, a + normal])
    return shapely.Polygon([a, a + normal, a + normal + normal[::-1] * [1, -1]])  # a vertex


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_zones_touching_cells_match_the_oracle(engine, cells, data):
    polygon = _touching_zone(cells, data)
    if not polygon.is_valid or polygon.area == 0:
        return
    zone = json.loads(json.dumps(shapely.geometry.mapping(polygon)))
    res = engine.resolve(zone, include=["cells"])
    assert res.zone.geometry.equals_exact(polygon, 0)
    assert sorted(res["cells"].cell_ids.tolist()) == oracle(cells, polygon)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    centre=st.tuples(st.floats(BOX[0], BOX[2]), st.floats(BOX[1], BOX[3])),
    radii=st.lists(st.floats(0.001, 0.08), min_size=3, max_size=40),
)
def test_random_star_polygons_match_the_oracle(engine, cells, centre, radii):
    angle = np.linspace(0, 2 * np.pi, len(radii), endpoint=False)
    ring = np.column_stack(
        [centre[0] + np.array(radii) * np.cos(angle), centre[1] + np.array(radii) * np.sin(angle)]
    )
    polygon = shapely.Polygon(ring)
    res = engine.resolve(
        json.loads(json.dumps(shapely.geometry.mapping(polygon))), include=["cells"]
    )
    assert sorted(res["cells"].cell_ids.tolist()) == oracle(cells, res.zone.geometry)


def _star(centre, radii, scale=1.0) -> np.ndarray:
    angle = np.linspace(0, 2 * np.pi, len(radii), endpoint=False)
    r = scale * np.array(radii)
    ring = np.column_stack([centre[0] + r * np.cos(angle), centre[1] + r * np.sin(angle)])
    return np.vstack([ring, ring[:1]])


#: Star zones with a hole, or several parts: the zone raster's parity runs over every ring.
holed_or_parted = st.builds(
    lambda centre, radii, holed: (
        shapely.Polygon(_star(centre, radii), [_star(centre, radii, 0.3)[::-1]])
        if holed
        else shapely.MultiPolygon(
            [
                shapely.Polygon(_star(centre, radii, 0.3)),
                shapely.Polygon(_star(centre, radii) + 0.2),
            ]
        )
    ),
    centre=st.tuples(st.floats(BOX[0], BOX[2] - 0.2), st.floats(BOX[1], BOX[3] - 0.2)),
    radii=st.lists(st.floats(0.01, 0.08), min_size=3, max_size=30),
    holed=st.booleans(),
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(zone=holed_or_parted)
def test_zones_with_holes_or_parts_match_the_oracle(engine, cells, zone):
    if not zone.is_valid:
        return
    res = engine.resolve(json.loads(json.dumps(shapely.geometry.mapping(zone))), include=["cells"])
    assert sorted(res["cells"].cell_ids.tolist()) == oracle(cells, res.zone.geometry)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.one_of(
        holed_or_parted,
        st.builds(
            lambda centre, radii: shapely.Polygon(_star(centre, radii)),
            centre=st.tuples(st.floats(-180, 179), st.floats(-89, 89)),
            radii=st.lists(st.floats(1e-7, 0.5), min_size=3, max_size=30),
        ),
    ),
    steps=st.tuples(st.floats(1e-5, 1.0), st.floats(1e-5, 1.0)),
)
def test_zone_raster_cells_lie_wholly_inside_or_outside(zone, steps):
    """Every IN raster cell lies in the zone and every OUT one outside it (GEOS on each
    raster cell, shrunk by a hair: its sides are only defined up to rounding)."""
    if not zone.is_valid:
        return
    x, y, ring_start = flat_rings(zone)
    x0, y0, x1, y1 = zone.bounds
    nx, ny, sx, sy, sums = zone_raster(x, y, ring_start, x0, y0, x1, y1, *steps)
    counts = np.diff(np.diff(sums.reshape(ny + 1, nx + 1), axis=0), axis=1)
    notout, inside = counts & 65535, counts >> 16
    assert set(np.unique(notout)) <= {0, 1} and (inside <= notout).all()
    col, row = np.meshgrid(np.arange(nx), np.arange(ny))
    hair = 1e-9
    rects = shapely.box(
        x0 + (col + hair) / sx,
        y0 + (row + hair) / sy,
        x0 + (col + 1 - hair) / sx,
        y0 + (row + 1 - hair) / sy,
    )
    assert shapely.contains_properly(zone, rects[inside == 1]).all()
    assert shapely.disjoint(zone, rects[notout == 0]).all()


def test_operators_filter_and_unknown_operator(engine, cells):
    zone = {"area": "21004"}
    got = resolved(engine, zone, operators=["10"])
    assert got == oracle(cells, engine.areas["21004"], ["10"])
    assert got and all(c.startswith("206-10-") for c in got)
    # An empty list filters nothing, like an omitted one.
    assert resolved(engine, zone, operators=[]) == oracle(cells, engine.areas["21004"])
    with pytest.raises(ZoneError, match=r"operators\[1\]: unknown operator '99'"):
        engine.resolve(zone, include=["cells"], operators=["01", "99"])


def test_unknown_part_and_policy_are_refused(engine):
    with pytest.raises(ZoneError, match=r"include\[0\]: unknown part 'weather'"):
        engine.resolve({"area": "21004"}, include=["weather"])
    with pytest.raises(ZoneError, match=r"policy: unknown policy 'nearest'"):
        engine.resolve({"area": "21004"}, include=["cells"], policy="nearest")
    with pytest.raises(ZoneError, match=r"overlap share must be in \(0, 1\]"):
        engine.resolve({"area": "21004"}, include=["cells"], policy="overlap>=1.5")


def test_policies_nest_and_report_gaps(engine, cells):
    zone = {"area": "21004"}
    wide = set(resolved(engine, zone))
    half = set(resolved(engine, zone, policy="overlap>=0.5"))
    full = set(resolved(engine, zone, policy="overlap>=1"))
    centre = set(resolved(engine, zone, policy="centroid"))
    assert full <= half <= wide and centre <= wide
    assert half and full != wide
    geometry = engine.areas["21004"]
    for cell_id in wide:
        i = int(np.flatnonzero(cells.cell_id == cell_id)[0])
        metric = engine.indexes["cells"].metric[i]
        from geoalert.zones import to_metric

        share = metric.intersection(to_metric(geometry, "EPSG:3812")).area / metric.area
        assert (cell_id in half) == (share >= 0.5)
        point = shapely.Point(cells.point[i])
        assert (cell_id in centre) == geometry.intersects(point)
    ops_wide = engine.resolve(zone, include=["cells"]).to_dict()["operators"]
    ops_full = engine.resolve(zone, include=["cells"], policy="overlap>=1").to_dict()["operators"]
    for op in OPERATORS:
        # Wider selections overshoot more and undershoot less.
        assert ops_wide[op]["overshoot_km2"] >= ops_full[op]["overshoot_km2"]
        assert ops_wide[op]["undershoot_km2"] <= ops_full[op]["undershoot_km2"] + 1e-9
        assert ops_full[op]["overshoot_km2"] == pytest.approx(0, abs=1e-6)


def test_policy_per_operator(engine):
    zone = {"area": "21004"}
    mixed = engine.resolve(zone, include=["cells"], policy={"01": "centroid"}).to_dict()
    assert mixed["operators"]["01"]["policy"] == "centroid"
    assert mixed["operators"]["10"]["policy"] == "intersects"
    alone = engine.resolve(zone, include=["cells"], policy="centroid").to_dict()
    assert mixed["operators"]["01"]["cell_ids"] == alone["operators"]["01"]["cell_ids"]


def test_result_is_plain_json_with_the_zone_used(engine):
    zone = {"circle": {"lon": 4.35, "lat": 50.85, "radius_m": 2000}}
    out = engine.resolve(zone, include=["cells"]).to_dict()
    assert json.loads(json.dumps(out)) == out
    used = shapely.geometry.shape(out["zone"]["geometry"])
    assert out["zone"]["area_km2"] == pytest.approx(np.pi * 2**2, rel=0.01)
    again = engine.resolve(out["zone"]["geometry"], include=["cells"]).to_dict()
    assert again["cells"] == out["cells"]  # the returned geometry reproduces the result
    cell = out["cells"][0]
    assert set(cell) == {"cell_id", "operator", "operator_name", "site_id", "radio", "band"}
    ids = [c["cell_id"] for c in out["cells"]]
    for op, entry in out["operators"].items():
        assert entry["name"] == OPERATORS[op]
        assert entry["cell_ids"] == [i for i in ids if i.split("-")[1] == op]
        assert entry["cell_count"] == len(entry["cell_ids"])
        area = shapely.geometry.shape(entry["warning_area"])
        assert area.covers(used)


def test_warning_area_covers_a_detailed_zone_within_the_vertex_limit(engine):
    zone = {"area": "20001"}  # a province: hundreds of vertices
    out = engine.resolve(zone, include=["cells"], operators=["01"]).to_dict()
    area = shapely.geometry.shape(out["operators"]["01"]["warning_area"])
    rings = shapely.get_rings(shapely.get_parts(area))
    assert (
        shapely.get_num_coordinates(area) - len(rings) <= engine.settings.warning_area_max_vertices
    )
    assert area.covers(engine.areas["20001"])


#: Valid in lon/lat, self-intersecting once projected to EPSG:3812 (a vertex within rounding
#: of another edge).
NEAR_DEGENERATE = {
    "type": "Polygon",
    "coordinates": [
        [
            [4.338177, 50.802968],
            [4.356142, 50.794644],
            [4.374106, 50.802968],
            [4.338177, 50.786319],
            [4.338177, 50.802968],
        ]
    ],
}


def _resolves_to_plain_json(engine, zone) -> None:
    """Every policy's result and gap shapes come out for an accepted zone, with sane areas."""
    try:
        parsed = engine.zone(zone)
    except ZoneError:
        return
    for policy in ("intersects", "overlap>=0.5", "centroid"):
        res = engine.resolve(parsed, include=["cells"], policy=policy)
        out = res.to_dict()
        assert json.loads(json.dumps(out)) == out
        for entry in out["operators"].values():
            assert 0 <= entry["undershoot_km2"] <= parsed.area_km2 * (1 + 1e-9)
            assert entry["overshoot_km2"] >= 0
        assert len(res.gaps_frame()) == 2 * len(out["operators"])


def test_zone_self_intersecting_in_metres_resolves(engine):
    zone = engine.zone(NEAR_DEGENERATE)
    assert zone.geometry.is_valid and not shapely.is_valid(
        geoalert.zones.to_metric(zone.geometry, "EPSG:3812")
    )
    assert engine.resolve(zone, include=["cells"]).to_dict()["cells"]  # cells are selected
    _resolves_to_plain_json(engine, zone)


@st.composite
def near_degenerate_rings(draw) -> dict:
    """A ring A, P, B, C with P on the edge B-C, rounded to a few decimals or moved by a few
    units in the last place: vertices on or within rounding of another edge."""
    coordinate = st.tuples(st.floats(4.2, 4.6), st.floats(50.7, 50.9))
    a, b, c = (np.array(draw(coordinate)) for _ in range(3))
    t = draw(st.floats(0.05, 0.95))
    p = b + t * (c - b)
    if draw(st.booleans()):
        p = np.round(p, draw(st.integers(5, 9)))
    else:
        p = p + np.array(draw(st.tuples(st.integers(-4, 4), st.integers(-4, 4)))) * np.spacing(p)
    ring = [a, p, b, c] if draw(st.booleans()) else [a, b, p, c]
    ring = [[float(x), float(y)] for x, y in ring]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(zone=near_degenerate_rings())
def test_near_degenerate_zones_always_resolve(engine, zone):
    _resolves_to_plain_json(engine, zone)


def test_empty_result(engine):
    zone = {"circle": {"lon": 5.9, "lat": 50.3, "radius_m": 500}}  # outside the cells' box
    out = engine.resolve(zone, include=["cells"]).to_dict()
    assert out["cells"] == []
    assert all(e["cell_count"] == 0 for e in out["operators"].values())


def test_cli_prints_the_resolution(world, tmp_path):
    from typer.testing import CliRunner

    from geoalert.cli import app

    zone = tmp_path / "zone.json"
    zone.write_text(json.dumps({"circle": {"lon": 4.35, "lat": 50.85, "radius_m": 1500}}))
    args = ["resolve", "--data", str(world), "--zone", f"@{zone}", "--include", "cells"]
    run = CliRunner().invoke(app, [*args, "--operators", "01,20"])
    assert run.exit_code == 0, run.output
    out = json.loads(run.stdout)
    assert out["cells"] and {c["operator"] for c in out["cells"]} <= {"01", "20"}
    assert set(out["operators"]) == {"01", "20"}
    bad = CliRunner().invoke(
        app, ["resolve", "--data", str(world), "--zone", '{"area": "99999"}', "--include", "cells"]
    )
    assert bad.exit_code == 2
    assert "area: unknown area code '99999'" in bad.stderr


# -- parity with PostGIS ST_Intersects on EPSG:4326 --------------------------------------------


@pytest.fixture(scope="module")
def cells_db(postgis, world):
    """A database of its own holding the synthetic world, loaded by the PostGIS store."""
    from geoalert.testing.postgis import create_database, drop_database
    from geodata.stores.load import load_world

    url = create_database(postgis, "cells_parity")
    load_world(world, url, progress=False)
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def st_intersects(cells_db):
    """Cell ids for which PostGIS ``ST_Intersects(coverage, zone)`` holds (GiST index)."""
    import psycopg
    import sqlalchemy as sa

    from geoalert.zones import to_geojson

    dsn = sa.make_url(cells_db).set(drivername="postgresql").render_as_string(False)
    conn = psycopg.connect(dsn, autocommit=True)
    sql = "SELECT cell_id FROM cells WHERE ST_Intersects(geometry, ST_GeomFromGeoJSON(%s))"

    def query(geometry) -> list[str]:
        rows = conn.execute(sql, (json.dumps(to_geojson(geometry)),)).fetchall()
        return sorted(row[0] for row in rows)

    yield query
    conn.close()


def _cells_of(engine, zone) -> tuple[list[str], shapely.Geometry]:
    res = engine.resolve(zone, include=["cells"])
    return sorted(res["cells"].cell_ids.tolist()), res.zone.geometry


@pytest.mark.postgis
def test_postgis_parity_municipalities_and_provinces(engine, st_intersects):
    areas = engine.store.read_areas()
    codes = areas.cx[BOX[0] : BOX[2], BOX[1] : BOX[3]]["code"].tolist()
    for code in codes:
        got, geometry = _cells_of(engine, {"area": code})
        assert got == st_intersects(geometry), code


@pytest.mark.postgis
def test_postgis_parity_circles_and_corridors(engine, st_intersects):
    rng = np.random.default_rng(11)
    for lon, lat in rng.uniform(BOX[:2], BOX[2:], (20, 2)):
        radius = float(rng.choice([200, 1_000, 5_000, 20_000]))
        got, geometry = _cells_of(engine, {"circle": {"lon": lon, "lat": lat, "radius_m": radius}})
        assert got and got == st_intersects(geometry)
    for _ in range(20):
        line = rng.uniform(BOX[:2], BOX[2:], (int(rng.integers(2, 6)), 2)).tolist()
        width = float(rng.choice([50, 500, 3_000]))
        zone = {"corridor": {"line": {"type": "LineString", "coordinates": line}, "width_m": width}}
        got, geometry = _cells_of(engine, zone)
        assert got == st_intersects(geometry)


@pytest.mark.postgis
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_postgis_parity_zones_touching_cells(engine, cells, st_intersects, data):
    polygon = _touching_zone(cells, data)
    if not polygon.is_valid or polygon.area == 0:
        return
    got, geometry = _cells_of(engine, json.loads(json.dumps(shapely.geometry.mapping(polygon))))
    assert got == st_intersects(geometry)


@pytest.mark.postgis
def test_engine_on_the_postgis_store_resolves_the_same_cells(world, engine, cells_db):
    on_postgis = geoalert.Engine.open(world, db=cells_db, include=["cells"])
    for zone in ({"area": "21004"}, {"circle": {"lon": 4.4, "lat": 50.8, "radius_m": 3000}}):
        assert (
            on_postgis.resolve(zone, include=["cells"]).to_dict()
            == engine.resolve(zone, include=["cells"]).to_dict()
        )


# -- the sample world ----------------------------------------------------------------------


@pytest.mark.postgis
def test_sample_world_matches_postgis(sample_world, sample_postgis):
    """Real generated cells: every area of the sample world and circles over it, resolved on
    the embedded store, equal ``ST_Intersects`` in the PostGIS store's database."""
    import psycopg
    import sqlalchemy as sa

    from geoalert.zones import to_geojson

    engine = geoalert.Engine.open(sample_world, include=["cells"])
    dsn = sa.make_url(sample_postgis).set(drivername="postgresql").render_as_string(False)
    sql = "SELECT cell_id FROM cells WHERE ST_Intersects(geometry, ST_GeomFromGeoJSON(%s))"
    x0, y0, x1, y1 = engine.extent
    rng = np.random.default_rng(3)
    circles = [
        {"circle": {"lon": lon, "lat": lat, "radius_m": float(rng.choice([300, 2_000, 10_000]))}}
        for lon, lat in rng.uniform((x0, y0), (x1, y1), (30, 2))
    ]
    with psycopg.connect(dsn) as conn:
        for zone in [{"area": code} for code in engine.areas] + circles:
            res = engine.resolve(zone, include=["cells"])
            text = json.dumps(to_geojson(res.zone.geometry))
            expected = sorted(row[0] for row in conn.execute(sql, (text,)).fetchall())
            assert sorted(res["cells"].cell_ids.tolist()) == expected, zone
