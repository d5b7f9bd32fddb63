"""Zone forms and bad zones: every refusal names what is wrong and where."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from cells.predicates import zone_wkb
from geoalert.settings import Settings
from geoalert.zones import Zone, ZoneError, _zone_facts, parse_zone, to_metric

EXTENT = (2.54, 49.49, 6.41, 51.51)  # Belgium
SQUARE = [[4.3, 50.8], [4.4, 50.8], [4.4, 50.9], [4.3, 50.9], [4.3, 50.8]]
POLYGON = {"type": "Polygon", "coordinates": [SQUARE]}
LINE = {"type": "LineString", "coordinates": [[4.3, 50.8], [4.5, 50.9]]}
AREAS = {"21004": shapely.box(4.33, 50.82, 4.40, 50.88)}


def parse(value, **kwargs) -> Zone:
    return parse_zone(value, areas=AREAS, extent=EXTENT, **kwargs)


def with_ring(ring):
    return {"type": "Polygon", "coordinates": [ring]}


# -- accepted forms ------------------------------------------------------------------------


def test_polygon_keeps_its_coordinates_and_measures_its_area_in_metres():
    zone = parse(POLYGON)
    assert shapely.get_coordinates(zone.geometry).tolist() == SQUARE
    metric = to_metric(shapely.Polygon(SQUARE), "EPSG:3812")
    assert zone.area_km2 == pytest.approx(metric.area / 1e6)
    assert 70 < zone.area_km2 < 80 and zone.warnings == ()


@pytest.mark.parametrize(
    "wrapped",
    [
        {"type": "Feature", "properties": {}, "geometry": POLYGON},
        {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": POLYGON}]},
        {"type": "GeometryCollection", "geometries": [POLYGON]},
        {"type": "MultiPolygon", "coordinates": [[SQUARE]]},
        {"union": [POLYGON]},
        json.dumps(POLYGON),
        np.str_(json.dumps(POLYGON)),  # a str subclass
        json.dumps(POLYGON).encode(),
    ],
)
def test_wrapped_forms_give_the_same_zone(wrapped):
    assert parse(wrapped).geometry.equals(shapely.Polygon(SQUARE))


def test_circle_is_built_in_metres_and_returned_as_the_polygon_used():
    zone = parse({"circle": {"lon": 4.35, "lat": 50.85, "radius_m": 1000}})
    metric = to_metric(zone.geometry, "EPSG:3812")
    centre = to_metric(shapely.Point(4.35, 50.85), "EPSG:3812")
    distances = shapely.distance(centre, shapely.points(shapely.get_coordinates(metric)))
    assert distances == pytest.approx(1000, abs=0.01)
    assert zone.area_km2 == pytest.approx(math.pi, rel=0.01)


def test_corridor_reaches_half_its_width_each_side():
    zone = parse({"corridor": {"line": LINE, "width_m": 400}})
    metric = to_metric(zone.geometry, "EPSG:3812")
    line = to_metric(shapely.LineString(LINE["coordinates"]), "EPSG:3812")
    assert metric.hausdorff_distance(line) == pytest.approx(200, abs=1)
    assert zone.area_km2 == pytest.approx(line.length * 0.4 / 1000 + math.pi * 0.04, rel=0.01)


def test_area_code_and_union():
    zone = parse(
        {"union": [{"area": "21004"}, {"circle": {"lon": 5, "lat": 50.5, "radius_m": 500}}]}
    )
    assert zone.geometry.geom_type == "MultiPolygon"
    assert zone.geometry.covers(AREAS["21004"])


def test_bow_tie_is_repaired_with_a_warning():
    zone = parse(with_ring([[4.3, 50.8], [4.4, 50.9], [4.4, 50.8], [4.3, 50.9], [4.3, 50.8]]))
    assert zone.geometry.is_valid and zone.geometry.geom_type == "MultiPolygon"
    assert zone.warnings == (
        "self-intersection at (4.35, 50.85); the polygon was repaired with make_valid",
    )
    assert zone.area_km2 > 0


def test_altitudes_are_dropped_with_a_warning():
    zone = parse(with_ring([[*p, 12.5] for p in SQUARE]))
    assert zone.warnings == ("coordinates[0]: altitudes dropped (zones are two-dimensional)",)
    assert zone.geometry.equals(shapely.Polygon(SQUARE))


def test_holes_are_kept():
    hole = [[4.33, 50.83], [4.36, 50.83], [4.36, 50.86], [4.33, 50.83]]
    other = [[4.37, 50.87], [4.38, 50.87], [4.38, 50.88], [4.37, 50.88], [4.37, 50.87]]
    zone = parse({"type": "Polygon", "coordinates": [SQUARE, hole, other]})
    assert len(zone.geometry.interiors) == 2
    assert zone.geometry.equals(shapely.Polygon(SQUARE, [hole, other]))


def test_to_dict_has_full_precision():
    ring = [
        [4.300000000000001, 50.8],
        [4.4, 50.80000000000001],
        [4.4, 50.9],
        [4.300000000000001, 50.8],
    ]
    out = parse(with_ring(ring)).to_dict()
    assert json.loads(json.dumps(out))["geometry"]["coordinates"] == [ring]
    assert set(out) == {"geometry", "area_km2", "warnings"}


#: Valid in lon/lat, self-intersecting once projected: the vertex (4.356142, 50.794644) lies
#: within rounding of the edge from (4.374106, 50.802968) to (4.338177, 50.786319).
NEAR_DEGENERATE = with_ring(
    [
        [4.338177, 50.802968],
        [4.356142, 50.794644],
        [4.374106, 50.802968],
        [4.338177, 50.786319],
        [4.338177, 50.802968],
    ]
)


def test_metric_geometry_is_repaired_once_when_projection_makes_it_self_intersect():
    zone = parse(NEAR_DEGENERATE)
    assert zone.geometry.is_valid and not zone.warnings
    assert not to_metric(zone.geometry, "EPSG:3812").is_valid  # the case under test
    assert zone.metric.is_valid and zone.metric.geom_type in ("Polygon", "MultiPolygon")
    # The repair only settles a sliver where the vertex crossed the edge.
    projected = to_metric(zone.geometry, "EPSG:3812")
    assert zone.area_km2 == pytest.approx(abs(shapely.area(projected)) / 1e6, rel=1e-3)
    assert zone.metric_in("EPSG:3812") is zone.metric
    assert zone.metric_in("EPSG:31370").is_valid


@settings(deadline=None)  # the first zone parsed in a process loads the compiled checks
@given(
    st.lists(
        st.tuples(st.floats(2.6, 6.3), st.floats(49.6, 51.4)), min_size=3, max_size=30, unique=True
    )
)
def test_any_ring_gives_a_valid_zone_or_a_zone_error(points):
    ring = [list(p) for p in points] + [list(points[0])]
    try:
        zone = parse(with_ring(ring))
    except ZoneError as error:
        assert str(error)  # refused with a reason (collinear or degenerate rings)
    else:
        assert zone.geometry.is_valid and not zone.geometry.is_empty and zone.area_km2 > 0
        assert bool(zone.warnings) == (not shapely.Polygon(ring).is_valid)


# -- validity proven without GEOS ----------------------------------------------------------


def surely_valid(geometry) -> bool:
    """What the parser's compiled pass concludes (True: valid without asking GEOS)."""
    return bool(_zone_facts(np.frombuffer(zone_wkb(geometry), dtype=np.uint8))[-1])


def closed(points: list) -> list:
    return [*points, points[0]]


#: Coordinates on a coarse exact grid, so that shared vertices, vertices on edges, collinear
#: and overlapping edges are frequent; and arbitrary floats.
GRID = st.integers(0, 6).map(lambda v: v / 8)
FINE = st.floats(0, 1)


@st.composite
def near_ring(draw) -> list:
    """A ring whose later vertices lie on, or a few units in the last place beside, the
    segment between two earlier ones: orientations at the edge of their rounding."""
    points = draw(st.lists(st.tuples(FINE, FINE), min_size=2, max_size=4))
    for _ in range(draw(st.integers(1, 6))):
        (ax, ay), (bx, by) = draw(st.sampled_from(points)), draw(st.sampled_from(points))
        t, ulps = draw(st.sampled_from([0.5, 0.25, 1 / 3])), draw(st.integers(-2, 2))
        x = ax + t * (bx - ax)
        y = np.nextafter(ay + t * (by - ay), np.inf if ulps > 0 else -np.inf)
        y = ay + t * (by - ay) if ulps == 0 else float(y)
        points.insert(draw(st.integers(0, len(points))), (x, y))
    return closed(points)


RINGS = st.one_of(
    st.sampled_from([GRID, FINE]).flatmap(
        lambda c: st.lists(st.tuples(c, c), min_size=3, max_size=10).map(closed)
    ),
    near_ring(),
)


def box(x: int, y: int, width: int, height: int) -> list:
    return closed([(x, y), (x + width, y), (x + width, y + height), (x, y + height)])


TRIANGLE = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=3, max_size=3)
#: Rings on the grid 0..6 that may touch, share edges, overlap, nest or lie apart.
SMALL = st.one_of(
    st.builds(box, st.integers(0, 5), st.integers(0, 5), st.integers(1, 3), st.integers(1, 3)),
    TRIANGLE.map(closed),
)
POLYGONS = st.one_of(
    st.tuples(RINGS, st.lists(RINGS, max_size=2)),
    st.tuples(st.just(box(-1, -1, 8, 8)), st.lists(SMALL, max_size=3)),
    st.tuples(SMALL, st.just([])),
)


def shifted(polygon: tuple, by: int) -> shapely.Polygon:
    """The polygon moved ``by`` units east: parts moved differently lie apart."""
    return shapely.transform(shapely.Polygon(*polygon), lambda xy: xy + np.array([by, 0]))


GEOMETRIES = st.one_of(
    POLYGONS.map(lambda p: shapely.Polygon(*p)),
    st.lists(
        st.builds(shifted, POLYGONS, st.sampled_from([0, 10, 20])), min_size=1, max_size=3
    ).map(shapely.MultiPolygon),
)


@settings(max_examples=1000, deadline=None)
@given(GEOMETRIES)
def test_a_zone_proven_valid_is_valid_for_geos(geometry):
    if surely_valid(geometry):
        assert shapely.is_valid(geometry), shapely.is_valid_reason(geometry)


@pytest.mark.parametrize(
    ("rings", "proven"),
    [
        ([SQUARE], True),
        ([[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[1, 1], [1, 2], [2, 2], [1, 1]]], True),
        ([[[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]], [[0, 0], [1, 2], [2, 2], [0, 0]]], False),
        ([[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]], False),  # bow-tie
        ([[[0, 0], [2, 0], [2, 2], [2, 2], [0, 2], [0, 0]]], False),  # repeated vertex
        ([[[0, 0], [2, 0], [3, 0], [2, 0], [2, 2], [0, 0]]], False),  # spike
    ],
)
def test_validity_is_proven_for_plain_polygons_only(rings, proven):
    polygon = shapely.Polygon(rings[0], rings[1:])
    assert surely_valid(polygon) == proven
    assert surely_valid(shapely.MultiPolygon([polygon, shapely.box(10, 10, 11, 11)])) == proven


def test_multipolygon_parts_must_be_proven_apart():
    inner = shapely.box(1, 1, 2, 2)
    assert surely_valid(shapely.MultiPolygon([shapely.box(3, 0, 4, 1), inner]))
    assert not surely_valid(shapely.MultiPolygon([shapely.box(0, 0, 4, 4), inner]))
    assert not surely_valid(shapely.MultiPolygon([shapely.box(0, 0, 1, 1), inner]))  # touching
    island = shapely.Polygon(
        [(0, 0), (4, 0), (4, 4), (0, 4)], [shapely.box(0.5, 0.5, 3.5, 3.5).exterior]
    )
    assert shapely.MultiPolygon([island, inner]).is_valid  # left to GEOS, which accepts it
    assert not surely_valid(shapely.MultiPolygon([island, inner]))


# -- bad zones -----------------------------------------------------------------------------

BAD = [
    ("not json", "the zone is not valid JSON: "),
    ('{"type": ', "the zone is not valid JSON: "),
    (
        [1, 2],
        "expected a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection, or a "
        "circle, corridor, area or union, got an array of 2",
    ),
    ({"kind": "zone"}, "got an object with keys ['kind']"),
    ({"type": "Polygonn", "coordinates": [SQUARE]}, "type: unknown GeoJSON type 'Polygonn'"),
    ({"type": "Feature", "geometry": None}, "geometry: the Feature has no geometry"),
    ({"type": "FeatureCollection", "features": []}, "features: the FeatureCollection is empty"),
    (
        {"type": "FeatureCollection", "features": [POLYGON]},
        "features[0]: expected a GeoJSON Feature, got a Polygon",
    ),
    (
        with_ring(SQUARE[:-1]),
        "coordinates[0]: the ring is not closed: first position "
        "[4.3, 50.8] differs from last [4.3, 50.9]",
    ),
    (
        with_ring([[4.3, 50.8], [4.4, 50.8], [4.3, 50.8]]),
        "coordinates[0]: a linear ring needs at least 4 positions, got 3",
    ),
    (
        with_ring([[4.3, 50.8], [4.4, "50.8"], [4.4, 50.9], [4.3, 50.8]]),
        "coordinates[0][1][1]: '50.8' is not a number",
    ),
    (
        with_ring([[4.3, 50.8], [4.4, None], [4.4, 50.9], [4.3, 50.8]]),
        "coordinates[0][1][1]: None is not a number",
    ),
    (
        with_ring([[4.3, 50.8], [4.4, True], [4.4, 50.9], [4.3, 50.8]]),
        "coordinates[0][1][1]: True is not a number",
    ),
    (
        with_ring([[4.3, 50.8], [4.4], [4.4, 50.9], [4.3, 50.8]]),
        "coordinates[0][1]: a position is [lon, lat], got an array of 1",
    ),
    (
        with_ring([[4.3, 50.8], [4.4, 50.8], [4.4, 151.2], [4.3, 50.8]]),
        "coordinates[0][2]: latitude 151.2 is out of range [-90, 90]",
    ),
    (
        with_ring([[4.3, 50.8], [184.4, 50.8], [4.4, 50.9], [4.3, 50.8]]),
        "coordinates[0][1]: longitude 184.4 is out of range [-180, 180]",
    ),
    (  # a position out of range is named before the ring's other faults
        with_ring([[4.3, 95.0], [4.4, 50.8], [4.3, 95.0]]),
        "coordinates[0][0]: latitude 95 is out of range [-90, 90]",
    ),
    (  # and before the faults of the rings after it
        {
            "type": "MultiPolygon",
            "coordinates": [[[[-200, 50.8], *SQUARE[1:-1], [-200, 50.8]]], [SQUARE[:-1]]],
        },
        "coordinates[0][0][0]: longitude -200 is out of range [-180, 180]",
    ),
    (
        with_ring([[4.3, 50.8], [float("nan"), 50.8], [4.4, 50.9], [4.3, 50.8]]),
        "coordinates[0][1]: longitude nan is out of range [-180, 180]",
    ),
    (
        with_ring([[p[1], p[0]] for p in SQUARE]),
        "the zone at lon 50.8000..50.9000, lat 4.3000..4.4000 lies far outside the "
        "world's extent (lon 2.5400..6.4100, lat 49.4900..51.5100): longitude and latitude look swapped",
    ),
    (with_ring([[p[0] + 100, p[1]] for p in SQUARE]), "lies far outside the world's extent"),
    ({"type": "Point", "coordinates": [4.3, 50.8]}, "a Point has no area: a zone must be"),
    (LINE, "a LineString has no area"),
    ({"type": "MultiPoint", "coordinates": [[4.3, 50.8]]}, "a MultiPoint has no area"),
    ({"type": "Polygon", "coordinates": []}, "coordinates: the Polygon is empty (no rings)"),
    ({"type": "MultiPolygon", "coordinates": []}, "coordinates: the MultiPolygon is empty"),
    ({"type": "Polygon"}, "coordinates: Polygon coordinates must be an array, got null"),
    (with_ring([[4.3, 50.8], [4.4, 50.8], [4.5, 50.8], [4.3, 50.8]]), "the polygon has no area"),
    (
        {"circle": {"lon": 4.3, "lat": 50.8, "radius_m": -5}},
        "circle.radius_m: -5 must be a positive number of metres",
    ),
    (
        {"circle": {"lon": 4.3, "lat": 50.8, "radius_m": 0}},
        "circle.radius_m: 0 must be a positive number of metres",
    ),
    (
        {"circle": {"lon": 4.3, "lat": 50.8, "radius_m": 1e9}},
        "circle.radius_m: 1000000000.0 m is more than the limit of 300000 m",
    ),
    (  # JSON integers have no size limit; none of these fits a float
        with_ring([[4.3, 50.8], [10**400, 50.8], [4.4, 50.9], [4.3, 50.8]]),
        "coordinates[0][1]: longitude 1000000... (401 digits) is out of range [-180, 180]",
    ),
    (
        {"circle": {"lon": 4.3, "lat": -(10**309), "radius_m": 10}},
        "circle.lat: latitude -100000... (310 digits) is out of range [-90, 90]",
    ),
    (
        {"circle": {"lon": 4.3, "lat": 50.8, "radius_m": 10**400}},
        "circle.radius_m: 1000000... (401 digits) m is more than the limit of 300000 m",
    ),
    (
        {"corridor": {"line": LINE, "width_m": float("inf")}},
        "corridor.width_m: inf must be a positive number of metres",
    ),
    (
        {"circle": {"lon": 4.3, "lat": 50.8, "radius_m": "big"}},
        "circle.radius_m: 'big' is not a number",
    ),
    (
        {"circle": {"lon": 4.3, "lat": 95, "radius_m": 10}},
        "circle.lat: latitude 95 is out of range [-90, 90]",
    ),
    ({"circle": {"lon": 4.3, "radius_m": 10}}, "circle: missing lat"),
    ({"circle": {"lon": 4.3, "lat": 50.8, "radius": 10}}, "circle: missing radius_m"),
    (
        {"corridor": {"line": POLYGON, "width_m": 10}},
        "corridor.line: expected a GeoJSON LineString, got a Polygon",
    ),
    (
        {"corridor": {"line": {"type": "LineString", "coordinates": [[4.3, 50.8]]}, "width_m": 10}},
        "corridor.line.coordinates: a LineString needs at least 2 positions, got 1",
    ),
    (
        {"corridor": {"line": LINE, "width_m": -1}},
        "corridor.width_m: -1 must be a positive number of metres",
    ),
    ({"area": "99999"}, "area: unknown area code '99999'"),
    ({"area": 21004}, "area: expected a NIS code string, got int 21004"),
    ({"union": []}, "union: the union is empty"),
    (
        {"union": [POLYGON, {"circle": {"lon": 4.3, "lat": 50.8, "radius_m": -1}}]},
        "union[1].circle.radius_m: -1 must be",
    ),
    ({"area": "21004", "circle": {}}, "got an object with keys ['area', 'circle']"),
]


@pytest.mark.parametrize(("zone", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_bad_zone_is_refused_with_a_specific_message(zone, message):
    with pytest.raises(ZoneError) as error:
        parse(zone)
    assert message in str(error.value)
    assert isinstance(error.value, ValueError)


def test_more_vertices_than_the_limit():
    ring = [[4.3 + 0.1 * math.cos(a), 50.8 + 0.1 * math.sin(a)] for a in np.linspace(0, 6.28, 30)]
    ring.append(ring[0])
    small = Settings(max_zone_vertices=20)
    with pytest.raises(ZoneError, match=r"coordinates\[0\]: the zone has more than 20 vertices"):
        parse(with_ring(ring), settings=small)
    twice = {"type": "MultiPolygon", "coordinates": [[[*ring[:12], ring[0]]]] * 2}
    with pytest.raises(ZoneError, match=r"coordinates\[1\]\[0\]: the zone has more than 20"):
        parse(twice, settings=small)
    assert parse(with_ring(ring)).geometry.is_valid


def test_area_codes_need_a_world():
    with pytest.raises(ZoneError, match="area: area codes need a world"):
        parse_zone({"area": "21004"})
