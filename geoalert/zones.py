"""Alert zones: every accepted form parsed and checked into one polygon in EPSG:4326.

Accepted forms (``parse_zone``):

- a GeoJSON ``Polygon`` or ``MultiPolygon`` (RFC 7946, lon/lat), bare or wrapped in a
  ``Feature``, ``FeatureCollection`` or ``GeometryCollection`` (parts are unioned);
- ``{"circle": {"lon": ..., "lat": ..., "radius_m": ...}}``;
- ``{"corridor": {"line": <GeoJSON LineString>, "width_m": ...}}`` (``width_m`` is the
  full width: the corridor reaches ``width_m / 2`` on each side of the line);
- ``{"area": "<NIS code>"}`` (a region, province or municipality of the world);
- ``{"union": [<zone>, ...]}``.

Circles and corridors are built in the metric CRS of the settings and brought back to
EPSG:4326: the returned polygon is the zone actually used. Every bad zone raises
:class:`ZoneError` naming what is wrong and where (a JSON path such as
``coordinates[0][3]``); a self-intersecting polygon is repaired with ``make_valid`` and
the zone carries a warning saying so.
"""

from __future__ import annotations

import numbers
import struct
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from itertools import chain

import numba as nb
import numpy as np
import orjson
import shapely
from pyproj import Transformer
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from cells.predicates import _JIT, orient, point_in_rings, segments_cross, wkb_rings, zone_wkb
from geoalert.settings import Settings, get_settings

__all__ = [
    "Zone",
    "ZoneError",
    "from_metric",
    "parse_zone",
    "to_geojson",
    "to_metric",
]

FORMS = "a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection, or a circle, corridor, area or union"
_NOT_AREAL = ("Point", "MultiPoint", "LineString", "MultiLineString")
_FLOAT_MAX = sys.float_info.max
_NUMBER_TYPES = frozenset((float, int))
# Types read as JSON objects and arrays (tuples: a union would be built at each test).
_OBJECT = (dict, Mapping)
_ARRAY = (list, tuple)
#: What the reader returns: a geometry, or the WKB of a GeoJSON polygon proven valid.
_Read = BaseGeometry | bytes
_WKB_HEADER = struct.Struct("<BII")  # byte order (1: little-endian), type, count
#: Rings beyond which validity is left to GEOS (holes and parts are tested pairwise).
_PROVEN_MAX_RINGS = 16
#: Edge pairs tested per edge beyond which validity is left to GEOS.
_PROVEN_PAIRS_PER_EDGE = 16


class ZoneError(ValueError):
    """A zone that cannot be used; the message says what is wrong and where."""


@dataclass(frozen=True)
class Zone:
    """A checked zone.

    Attributes
    ----------
    source : shapely Polygon or MultiPolygon, or bytes
        The zone as read: a geometry, or the little-endian 2-D WKB of a GeoJSON polygon
        the parser proved valid (its shapely geometry is then built only when asked for).
    warnings : tuple of str
        What was changed or noticed while reading it (repairs, dropped altitudes).
    metric_crs : str
        Projected CRS in metres in which :attr:`area_km2` is measured.
    """

    source: BaseGeometry | bytes
    warnings: tuple[str, ...] = ()
    metric_crs: str = "EPSG:3812"

    @cached_property
    def geometry(self) -> BaseGeometry:
        """The zone resolved, EPSG:4326 (lon, lat degrees), valid and non-empty."""
        return _geometry(self.source)

    @property
    def wkb(self) -> bytes:
        """:attr:`geometry` as the little-endian 2-D WKB of compiled passes
        (:func:`cells.predicates.zone_wkb`): the parser's own when there is one, written
        at each call otherwise (a cached property would take Python 3.11's lock for every
        new zone)."""
        source = self.source
        return source if isinstance(source, bytes) else zone_wkb(source)

    @cached_property
    def metric(self) -> BaseGeometry:
        """The zone in :attr:`metric_crs` (metres), valid: the one geometry on which every
        area, overlap and gap is measured.

        Projection can move a vertex lying within rounding of another edge to its other
        side, so a polygon valid in lon/lat may self-intersect in metres; it is repaired
        here, once, with ``make_valid`` (polygonal parts kept; possibly empty).
        """
        metric = to_metric(self.geometry, self.metric_crs)
        if shapely.is_valid(metric):
            return metric
        polygons, _ = _polygons_of_repair(metric)
        return _union(list(polygons)) if len(polygons) else shapely.Polygon()

    def metric_in(self, crs: str) -> BaseGeometry:
        """:attr:`metric` in the metric ``crs`` (cached when it is :attr:`metric_crs`)."""
        return self.metric if crs == self.metric_crs else replace(self, metric_crs=crs).metric

    @cached_property
    def area_km2(self) -> float:
        """Area in km², measured on :attr:`metric` when first asked for."""
        return float(shapely.area(self.metric)) / 1e6

    def to_dict(self) -> dict:
        """``{"geometry": GeoJSON in full float precision, "area_km2", "warnings"}``."""
        return {
            "geometry": to_geojson(self.geometry),
            "area_km2": self.area_km2,
            "warnings": list(self.warnings),
        }


def to_geojson(geometry: BaseGeometry) -> dict:
    """GeoJSON mapping with lists and Python floats in full precision (``repr`` round-trips)."""
    return orjson.loads(orjson.dumps(mapping(geometry)))


@lru_cache(maxsize=8)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _reproject(geometry: BaseGeometry, source: str, target: str) -> BaseGeometry:
    transform = _transformer(source, target).transform

    def move(xy: np.ndarray) -> np.ndarray:
        x, y = transform(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    return shapely.transform(geometry, move)


def to_metric(geometry: BaseGeometry, crs: str) -> BaseGeometry:
    """Geometry from EPSG:4326 (lon, lat) into the metric ``crs`` (metres)."""
    return _reproject(geometry, "EPSG:4326", crs)


def from_metric(geometry: BaseGeometry, crs: str) -> BaseGeometry:
    """Geometry from the metric ``crs`` (metres) back to EPSG:4326 (lon, lat)."""
    return _reproject(geometry, crs, "EPSG:4326")


@dataclass
class _Reader:
    """State of one parse: settings, lookups, vertices seen so far and warnings."""

    settings: Settings
    areas: Mapping[str, BaseGeometry] | None
    vertices: int = 0
    warnings: list[str] = field(default_factory=list)
    rings: list[tuple[list, str]] = field(default_factory=list)  # of the geometry being read
    # The last geometry read from WKB, the WKB and its bounds (xmin, ymin, xmax, ymax).
    built: tuple[bytes, tuple[float, ...]] | None = None  # the last proven WKB, its bounds

    # -- entry ---------------------------------------------------------------------------
    def zone(self, value: object, path: str) -> _Read:
        if not isinstance(value, _OBJECT):
            raise ZoneError(f"{_where(path)}expected {FORMS}, got {_kind(value)}")
        if "type" in value:
            return self.geojson(value, path)
        forms = [key for key in ("circle", "corridor", "area", "union") if key in value]
        if len(forms) != 1 or len(value) != 1:
            raise ZoneError(
                f"{_where(path)}expected {FORMS}, got an object with keys {sorted(value)}"
            )
        return getattr(self, forms[0])(value[forms[0]], _join(path, forms[0]))

    # -- GeoJSON -------------------------------------------------------------------------
    def geojson(self, value: Mapping, path: str) -> _Read:
        kind = value["type"]
        if kind == "Feature":
            if value.get("geometry") is None:
                raise ZoneError(f"{_join(path, 'geometry')}: the Feature has no geometry")
            return self.geojson_geometry(value["geometry"], _join(path, "geometry"))
        if kind == "FeatureCollection":
            return self.collection(value, path, "features", self.feature)
        return self.geojson_geometry(value, path)

    def feature(self, value: object, path: str) -> _Read:
        if not isinstance(value, _OBJECT) or value.get("type") != "Feature":
            raise ZoneError(f"{path}: expected a GeoJSON Feature, got {_kind(value)}")
        return self.geojson(value, path)

    def collection(self, value: Mapping, path: str, key: str, read: Callable) -> _Read:
        members = value.get(key)
        where = _join(path, key)
        if not isinstance(members, list):
            raise ZoneError(f"{where}: expected an array, got {_kind(members)}")
        if not members:
            raise ZoneError(f"{where}: the {value['type']} is empty")
        return _union([read(member, f"{where}[{i}]") for i, member in enumerate(members)])

    def geojson_geometry(self, value: object, path: str) -> _Read:
        if not isinstance(value, _OBJECT) or "type" not in value:
            raise ZoneError(f"{_where(path)}expected a GeoJSON geometry, got {_kind(value)}")
        kind = value["type"]
        if kind == "GeometryCollection":
            return self.collection(value, path, "geometries", self.geojson_geometry)
        if kind in _NOT_AREAL:
            raise ZoneError(
                f"{_where(path)}a {kind} has no area: a zone must be {FORMS} "
                "(buffer points with a circle and lines with a corridor)"
            )
        if kind not in ("Polygon", "MultiPolygon"):
            raise ZoneError(f"{_join(path, 'type')}: unknown GeoJSON type {kind!r}")
        where = _join(path, "coordinates")
        coordinates = value.get("coordinates")
        self.rings = []
        try:
            if kind == "Polygon":
                wkb = self.polygon(coordinates, where)
            else:
                parts = _array(coordinates, where, "MultiPolygon coordinates")
                if not parts:
                    raise ZoneError(f"{where}: the MultiPolygon is empty")
                polygons = [self.polygon(p, f"{where}[{i}]") for i, p in enumerate(parts)]
                wkb = b"".join([_WKB_HEADER.pack(1, 6, len(polygons)), *polygons])
        except ZoneError:
            self.check_ranges()  # a ring read before the fault may be out of range: said first
            raise
        # Ranges, bounds and (when orientation tests can prove it) validity in one compiled
        # pass; GEOS checks validity only when that proof fails.
        x0, y0, x1, y1, in_range, valid = _zone_facts(np.frombuffer(wkb, dtype=np.uint8))
        if not in_range:
            self.check_ranges()
        if not valid:
            return self.repaired(shapely.from_wkb(wkb), path)
        self.built = (wkb, (x0, y0, x1, y1))
        return wkb

    def polygon(self, value: object, path: str) -> bytes:
        """The polygon as little-endian WKB (built directly: one GEOS call per geometry)."""
        rings = _array(value, path, "Polygon coordinates")
        if not rings:
            raise ZoneError(f"{path}: the Polygon is empty (no rings)")
        wkb = [_WKB_HEADER.pack(1, 3, len(rings))]
        for i, ring in enumerate(rings):
            flat = self.ring(ring, f"{path}[{i}]")
            wkb.append(struct.pack(f"<I{len(flat)}d", len(flat) // 2, *flat))
        return b"".join(wkb)

    def ring(self, value: object, path: str) -> list:
        flat = self.positions(value, path, "linear ring")
        self.rings.append((flat, path))  # ranges checked with the geometry's (_zone_facts)
        if len(flat) < 8:
            raise ZoneError(
                f"{path}: a linear ring needs at least 4 positions, got {len(flat) // 2}"
            )
        if flat[0] != flat[-2] or flat[1] != flat[-1]:  # then compared as stored, in float64
            x0, y0, x1, y1 = map(float, (*flat[:2], *flat[-2:]))
            if x0 != x1 or y0 != y1:
                raise ZoneError(
                    f"{path}: the ring is not closed: first position {[x0, y0]} "
                    f"differs from last {[x1, y1]}"
                )
        return flat

    def positions(self, value: object, path: str, what: str) -> list:
        """Positions as one flat list ``[lon0, lat0, lon1, lat1, ...]`` of ints and floats,
        every one checked to be a number (altitudes dropped with a warning); ranges are
        left to the caller."""
        positions = _array(value, path, what)
        self.vertices += len(positions)
        limit = self.settings.max_zone_vertices
        if self.vertices > limit:
            raise ZoneError(
                f"{path}: the zone has more than {limit} vertices, the limit "
                "(GEOALERT_MAX_ZONE_VERTICES)"
            )
        try:  # fast path: every position a pair, every value an int or a float
            flat = list(chain.from_iterable(positions))
            types = set(map(type, flat))
            plain = set(map(len, positions)) == {2} and types <= _NUMBER_TYPES
        except TypeError:
            plain = False
        if not plain:
            _check_positions(positions, path)
            flat = [v for p in positions for v in p[:2]]
            types = set(map(type, flat))
            if any(len(p) == 3 for p in positions):
                self.warn(f"{path}: altitudes dropped (zones are two-dimensional)")
        if types - {float}:  # an integer beyond any float (JSON allows it) cannot be packed
            for i, v in enumerate(flat):
                if not -_FLOAT_MAX <= v <= _FLOAT_MAX:
                    _check_coordinate(v, f"{path}[{i // 2}]", latitude=i % 2 == 1)
        return flat

    def check_ranges(self) -> None:
        """Raise for the first position out of range of the rings read for the geometry
        being read, in reading order (as if each had been checked when read)."""
        for flat, path in self.rings:
            _check_ranges(np.array(flat, dtype=np.float64).reshape(-1, 2), path)

    def repaired(self, geometry: BaseGeometry, path: str) -> BaseGeometry:
        """The geometry, or its ``make_valid`` repair with a warning when it is invalid."""
        reason = shapely.is_valid_reason(geometry)
        if reason == "Valid Geometry":
            return geometry
        polygons, dropped = _polygons_of_repair(geometry)
        if not polygons.size:
            raise ZoneError(f"{_where(path)}the polygon has no area ({_reason(reason)})")
        self.warn(f"{_where(path)}{_reason(reason)}; the polygon was repaired with make_valid")
        if dropped:
            self.warn(f"{_where(path)}lines or points without area left by the repair were dropped")
        return _union(list(polygons))

    # -- other forms ---------------------------------------------------------------------
    def circle(self, value: object, path: str) -> BaseGeometry:
        spec = _fields(value, path, ("lon", "lat", "radius_m"))
        for name in ("lon", "lat"):
            if not _is_number(spec[name]):
                raise ZoneError(f"{_join(path, name)}: {spec[name]!r} is not a number")
            _check_coordinate(spec[name], _join(path, name), name == "lat")
        radius = self.distance(spec["radius_m"], _join(path, "radius_m"))
        crs = self.settings.metric_crs
        centre = to_metric(shapely.Point(spec["lon"], spec["lat"]), crs)
        self.vertices += 4 * self.settings.circle_quad_segs
        return from_metric(centre.buffer(radius, quad_segs=self.settings.circle_quad_segs), crs)

    def corridor(self, value: object, path: str) -> BaseGeometry:
        spec = _fields(value, path, ("line", "width_m"))
        where = _join(path, "line")
        line = spec["line"]
        if not isinstance(line, _OBJECT) or line.get("type") != "LineString":
            raise ZoneError(f"{where}: expected a GeoJSON LineString, got {_kind(line)}")
        at = _join(where, "coordinates")
        xy = self.positions(line.get("coordinates"), at, "LineString")
        xy = np.array(xy, dtype=np.float64).reshape(-1, 2)
        _check_ranges(xy, at)
        if len(xy) < 2:
            raise ZoneError(
                f"{_join(where, 'coordinates')}: a LineString needs at least 2 positions, "
                f"got {len(xy)}"
            )
        width = self.distance(spec["width_m"], _join(path, "width_m"))
        crs = self.settings.metric_crs
        metric = to_metric(shapely.linestrings(xy), crs)
        return from_metric(metric.buffer(width / 2, quad_segs=self.settings.circle_quad_segs), crs)

    def distance(self, value: object, path: str) -> float:
        limit = self.settings.max_radius_m
        if not _is_number(value):
            raise ZoneError(f"{path}: {value!r} is not a number")
        if not value > 0 or value == np.inf:
            raise ZoneError(f"{path}: {_shown(value, '')} must be a positive number of metres")
        if value > limit:
            raise ZoneError(
                f"{path}: {_shown(value, '')} m is more than the limit of {limit:g} m "
                "(GEOALERT_MAX_RADIUS_M)"
            )
        return float(value)

    def area(self, value: object, path: str) -> BaseGeometry:
        if not isinstance(value, str):
            raise ZoneError(f"{path}: expected a NIS code string, got {_kind(value)}")
        if self.areas is None:
            raise ZoneError(f"{path}: area codes need a world (Engine.open) to look them up")
        try:
            return self.areas[value]
        except KeyError:
            raise ZoneError(f"{path}: unknown area code {value!r}") from None

    def union(self, value: object, path: str) -> _Read:
        members = _array(value, path, "union")
        if not members:
            raise ZoneError(f"{path}: the union is empty")
        return _union([self.zone(m, f"{path}[{i}]") for i, m in enumerate(members)])

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def parse_zone(
    value: object,
    *,
    areas: Mapping[str, BaseGeometry] | None = None,
    extent: tuple[float, float, float, float] | None = None,
    settings: Settings | None = None,
) -> Zone:
    """Read and check a zone in any accepted form.

    Parameters
    ----------
    value : dict or str
        The zone: a parsed JSON object or JSON text (see the module docstring for forms).
    areas : mapping of str to shapely geometry, optional
        Area geometries (EPSG:4326) by NIS code, for ``{"area": code}``.
    extent : (minx, miny, maxx, maxy), optional
        The world's extent in lon/lat degrees: zones farther from it than
        ``settings.zone_extent_margin_deg`` are refused.
    settings : Settings, optional
        Defaults to :func:`geoalert.settings.get_settings`.

    Returns
    -------
    Zone

    Raises
    ------
    ZoneError
        For every zone that cannot be used, naming what is wrong and where.
    """
    settings = settings or get_settings()
    if isinstance(value, (str, bytes)):
        try:
            value = orjson.loads(value if type(value) in (str, bytes) else str(value))
        except orjson.JSONDecodeError as error:
            raise ZoneError(f"the zone is not valid JSON: {error}") from None
    reader = _Reader(settings, areas)
    source = reader.zone(value, "")
    if isinstance(source, bytes):  # a GeoJSON polygon proven valid, never empty
        bounds = reader.built[1]
    elif source.is_empty:
        raise ZoneError("the zone is empty")
    else:
        bounds = shapely.bounds(source)
    if extent is not None:
        _check_extent(source, bounds, extent, settings.zone_extent_margin_deg)
    return Zone(source, tuple(reader.warnings), settings.metric_crs)


def _polygons_of_repair(geometry: BaseGeometry) -> tuple[np.ndarray, bool]:
    """The polygons of ``make_valid(geometry)``, and whether it also left lines or points."""
    parts = shapely.get_parts(shapely.get_parts(shapely.make_valid(geometry)))
    polygons = parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]
    return polygons, len(polygons) < len(parts)


def _union(geometries: list[BaseGeometry | bytes]) -> BaseGeometry | bytes:
    if len(geometries) == 1:
        return geometries[0]
    union = shapely.union_all([_geometry(g) for g in geometries])
    parts = [p for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
    return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)


def _geometry(source: BaseGeometry | bytes) -> BaseGeometry:
    """A zone as read (a geometry, or the WKB of a polygon proven valid) as a geometry."""
    return shapely.from_wkb(source) if isinstance(source, bytes) else source


def _check_extent(
    geometry: BaseGeometry | bytes,
    bounds: tuple[float, float, float, float],
    extent: tuple[float, float, float, float],
    margin: float,
) -> None:
    """Raise when a part of ``geometry`` (whose ``bounds`` are given) lies far outside
    ``extent``, naming it."""
    x0, y0, x1, y1 = extent
    bx0, by0, bx1, by1 = bounds
    if bx0 >= x0 - margin and bx1 <= x1 + margin and by0 >= y0 - margin and by1 <= y1 + margin:
        return  # wholly within the extent and its margin
    bounds = shapely.bounds(shapely.get_parts(_geometry(geometry)))
    near = (
        (bounds[:, 2] >= x0 - margin)
        & (bounds[:, 0] <= x1 + margin)
        & (bounds[:, 3] >= y0 - margin)
        & (bounds[:, 1] <= y1 + margin)
    )
    if near.all():
        return
    bx0, by0, bx1, by1 = bounds[int(np.argmin(near))]
    message = (
        f"the zone{' part' if len(bounds) > 1 else ''} at lon {bx0:.4f}..{bx1:.4f}, "
        f"lat {by0:.4f}..{by1:.4f} lies far outside the "
        f"world's extent (lon {x0:.4f}..{x1:.4f}, lat {y0:.4f}..{y1:.4f})"
    )
    swapped = (
        by1 >= x0 - margin and by0 <= x1 + margin and bx1 >= y0 - margin and bx0 <= y1 + margin
    )
    if swapped:
        message += ": longitude and latitude look swapped (GeoJSON is [lon, lat])"
    raise ZoneError(message)


def _check_positions(positions: list, path: str) -> None:
    """Raise for the first position that is not [number, number] or [number, number, number]."""
    for i, p in enumerate(positions):
        where = f"{path}[{i}]"
        if not isinstance(p, _ARRAY) or not 2 <= len(p) <= 3:
            raise ZoneError(f"{where}: a position is [lon, lat], got {_kind(p)}")
        for j, v in enumerate(p):
            if not _is_number(v):
                raise ZoneError(f"{where}[{j}]: {v!r} is not a number")


def _check_ranges(xy: np.ndarray, path: str) -> None:
    """Raise for the first non-finite or out-of-range longitude or latitude of (n, 2) ``xy``."""
    if np.abs(xy).max(initial=0.0) <= 90.0:  # every value fits both ranges; NaN compares false
        return
    i = int(np.argmax(~(np.abs(xy) <= (180.0, 90.0)).all(axis=1)))
    _check_coordinate(xy[i, 0], f"{path}[{i}]", False)
    _check_coordinate(xy[i, 1], f"{path}[{i}]", True)


def _check_coordinate(value: float, where: str, latitude: bool) -> None:
    label, limit = ("latitude", 90) if latitude else ("longitude", 180)
    if not abs(value) <= limit:
        raise ZoneError(f"{where}: {label} {_shown(value)} is out of range [-{limit}, {limit}]")


def _shown(value: float, spec: str = "g") -> str:
    """A number for a message: formatted with ``spec``, or its first digits and length
    for an integer beyond any float."""
    if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        return f"{str(value)[:7]}... ({len(str(abs(value)))} digits)"
    return format(value, spec)


@nb.njit(**_JIT)
def _zone_facts(wkb):
    """What the parser needs from a little-endian 2-D WKB Polygon or MultiPolygon, in one
    pass: its bounds (xmin, ymin, xmax, ymax), whether every longitude is within
    [-180, 180] and every latitude within [-90, 90] (so finite), and whether it is
    :func:`_surely_valid`."""
    x, y, ring_start = wkb_rings(wkb)
    in_range = True
    for k in range(len(x)):
        if not (abs(x[k]) <= 180.0 and abs(y[k]) <= 90.0):
            in_range = False
    valid = in_range and _surely_valid(x, y, ring_start, _polygon_rings(wkb))
    return x.min(), y.min(), x.max(), y.max(), in_range, valid


@nb.njit(**_JIT)
def _polygon_rings(wkb):
    """Index of the first ring of each polygon of a little-endian 2-D WKB Polygon or
    MultiPolygon (rings numbered as :func:`cells.predicates.wkb_rings` does), then the
    number of rings."""
    multi = wkb[1] == 6
    polygons = wkb[5:9].view(np.uint32)[0] if multi else 1
    first = np.empty(polygons + 1, dtype=np.int64)
    at, ring = (9 if multi else 0), 0
    for p in range(polygons):
        rings = wkb[at + 5 : at + 9].view(np.uint32)[0]
        at += 9
        for _ in range(rings):
            at += 4 + 16 * wkb[at : at + 4].view(np.uint32)[0]
        first[p] = ring
        ring += rings
    first[polygons] = ring
    return first


@nb.njit(**_JIT)
def _surely_valid(x, y, ring_start, first_ring):
    """Whether exact-or-undecided orientation tests (:func:`cells.predicates.orient`)
    prove the polygons valid as GEOS defines it; False when they cannot (GEOS decides).

    Proven when: each ring turns at every vertex (no repeated vertex, no spike folding
    back); no two other edges meet (every ring simple, rings apart); then, the rings being
    apart, one vertex each settles nesting: every hole inside its shell and outside the
    other holes, every shell outside the other shells. Touching and collinear cases are
    undecided, so they go to GEOS.

    Parameters
    ----------
    x, y, ring_start : ndarray
        Rings as :func:`cells.predicates.wkb_rings` gives them.
    first_ring : ndarray of int64
        As :func:`_polygon_rings` gives it.
    """
    n_rings = len(ring_start) - 1
    if n_rings > _PROVEN_MAX_RINGS:
        return False
    n_edges = len(x) - n_rings
    first = np.empty(n_edges, dtype=np.int64)  # each edge's first vertex
    ring = np.empty(n_edges, dtype=np.int64)
    lo = np.empty(n_edges)
    e = 0
    for r in range(n_rings):
        a, b = ring_start[r], ring_start[r + 1] - 1  # b: the closing vertex
        for k in range(a, b):
            before = b - 1 if k == a else k - 1
            if orient(x[before], y[before], x[k], y[k], x[k + 1], y[k + 1]) == 0:
                return False
            first[e], ring[e], lo[e] = k, r, min(x[k], x[k + 1])
            e += 1
    # Every other pair of edges whose x ranges meet (a sweep in order of least x) must be
    # decided apart: edges next to each other in a ring share only their vertex (above).
    order = np.argsort(lo)
    budget = _PROVEN_PAIRS_PER_EDGE * n_edges
    for i in range(n_edges):
        k, r = first[order[i]], ring[order[i]]
        hi = max(x[k], x[k + 1])
        for j in range(i + 1, n_edges):
            if lo[order[j]] > hi:
                break
            m = first[order[j]]
            if ring[order[j]] == r and (
                abs(k - m) == 1 or abs(k - m) == ring_start[r + 1] - 2 - ring_start[r]
            ):
                continue  # next to each other, or the ring's last and first edges
            budget -= 1
            if budget < 0 or segments_cross(
                x[k], y[k], x[k + 1], y[k + 1], x[m], y[m], x[m + 1], y[m + 1]
            ):
                return False
    # The rings are apart: each lies wholly inside or outside another, as its first vertex.
    for p in range(len(first_ring) - 1):
        shell, end = first_ring[p], first_ring[p + 1]
        for h in range(shell + 1, end):
            hx, hy = x[ring_start[h]], y[ring_start[h]]
            if point_in_rings(hx, hy, x, y, ring_start, shell, shell + 1) != 1:
                return False
            for g in range(shell + 1, end):
                if g != h and point_in_rings(hx, hy, x, y, ring_start, g, g + 1) != 0:
                    return False
        for q in range(len(first_ring) - 1):
            other = first_ring[q]
            sx, sy = x[ring_start[shell]], y[ring_start[shell]]
            if q != p and point_in_rings(sx, sy, x, y, ring_start, other, other + 1) != 0:
                return False
    return True


def _fields(value: object, path: str, names: tuple[str, ...]) -> dict:
    if not isinstance(value, _OBJECT):
        raise ZoneError(f"{path}: expected an object with {', '.join(names)}, got {_kind(value)}")
    missing = [n for n in names if n not in value]
    if missing:
        raise ZoneError(f"{path}: missing {', '.join(missing)}")
    extra = sorted(set(value) - set(names))
    if extra:
        raise ZoneError(f"{path}: unexpected {', '.join(extra)} (expected {', '.join(names)})")
    return dict(value)


def _array(value: object, path: str, what: str) -> list:
    if not isinstance(value, _ARRAY):
        raise ZoneError(f"{_where(path)}{what} must be an array, got {_kind(value)}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, _OBJECT):
        kind = value.get("type")
        return f"a {kind}" if isinstance(kind, str) else "an object"
    if isinstance(value, _ARRAY):
        return f"an array of {len(value)}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"{type(value).__name__} {value!r}"


def _reason(reason: str) -> str:
    """GEOS's validity reason in words: 'Self-intersection[4.4 50.8]' -> '... at (4.4, 50.8)'."""
    text, _, point = reason.partition("[")
    point = point.rstrip("]").split()
    at = f" at ({', '.join(point)})" if len(point) == 2 else ""
    return f"{text.strip().lower()}{at}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _where(path: str) -> str:
    return f"{path}: " if path else ""
