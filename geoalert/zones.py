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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from itertools import chain

import numpy as np
import orjson
import shapely
from pyproj import Transformer
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from cells.predicates import zone_wkb
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
_NUMBER_TYPES = frozenset((float, int))
_WKB_HEADER = struct.Struct("<BII")  # byte order (1: little-endian), type, count
_WKB_COUNT = struct.Struct("<I")


class ZoneError(ValueError):
    """A zone that cannot be used; the message says what is wrong and where."""


@dataclass(frozen=True)
class Zone:
    """A checked zone.

    Attributes
    ----------
    geometry : shapely Polygon or MultiPolygon
        The zone resolved, EPSG:4326 (lon, lat degrees), valid and non-empty.
    warnings : tuple of str
        What was changed or noticed while reading it (repairs, dropped altitudes).
    metric_crs : str
        Projected CRS in metres in which :attr:`area_km2` is measured.
    """

    geometry: BaseGeometry
    warnings: tuple[str, ...] = ()
    metric_crs: str = "EPSG:3812"
    parsed_wkb: bytes | None = field(default=None, repr=False, compare=False)
    """:attr:`geometry` as little-endian 2-D WKB when the parser built it so (or None)."""

    @cached_property
    def wkb(self) -> bytes:
        """:attr:`geometry` as the little-endian 2-D WKB of compiled passes
        (:func:`cells.predicates.zone_wkb`): the parser's own when there is one."""
        return zone_wkb(self.geometry) if self.parsed_wkb is None else self.parsed_wkb

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
    built: tuple[BaseGeometry, bytes] | None = None  # the last geometry read from WKB, and it

    # -- entry ---------------------------------------------------------------------------
    def zone(self, value: object, path: str) -> BaseGeometry:
        if not isinstance(value, dict | Mapping):
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
    def geojson(self, value: Mapping, path: str) -> BaseGeometry:
        kind = value["type"]
        if kind == "Feature":
            if value.get("geometry") is None:
                raise ZoneError(f"{_join(path, 'geometry')}: the Feature has no geometry")
            return self.geojson_geometry(value["geometry"], _join(path, "geometry"))
        if kind == "FeatureCollection":
            return self.collection(value, path, "features", self.feature)
        return self.geojson_geometry(value, path)

    def feature(self, value: object, path: str) -> BaseGeometry:
        if not isinstance(value, dict | Mapping) or value.get("type") != "Feature":
            raise ZoneError(f"{path}: expected a GeoJSON Feature, got {_kind(value)}")
        return self.geojson(value, path)

    def collection(self, value: Mapping, path: str, key: str, read: Callable) -> BaseGeometry:
        members = value.get(key)
        where = _join(path, key)
        if not isinstance(members, list):
            raise ZoneError(f"{where}: expected an array, got {_kind(members)}")
        if not members:
            raise ZoneError(f"{where}: the {value['type']} is empty")
        return _union([read(member, f"{where}[{i}]") for i, member in enumerate(members)])

    def geojson_geometry(self, value: object, path: str) -> BaseGeometry:
        if not isinstance(value, dict | Mapping) or "type" not in value:
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
        if kind == "Polygon":
            wkb = self.polygon(coordinates, where)
        else:
            parts = _array(coordinates, where, "MultiPolygon coordinates")
            if not parts:
                raise ZoneError(f"{where}: the MultiPolygon is empty")
            polygons = [self.polygon(p, f"{where}[{i}]") for i, p in enumerate(parts)]
            wkb = b"".join([_WKB_HEADER.pack(1, 6, len(polygons)), *polygons])
        self.built = (shapely.from_wkb(wkb), wkb)
        return self.repaired(self.built[0], path)

    def polygon(self, value: object, path: str) -> bytes:
        """The polygon as little-endian WKB (built directly: one GEOS call per geometry)."""
        rings = _array(value, path, "Polygon coordinates")
        if not rings:
            raise ZoneError(f"{path}: the Polygon is empty (no rings)")
        wkb = [_WKB_HEADER.pack(1, 3, len(rings))]
        for i, ring in enumerate(rings):
            xy = self.ring(ring, f"{path}[{i}]")
            wkb += [_WKB_COUNT.pack(len(xy)), xy.tobytes()]
        return b"".join(wkb)

    def ring(self, value: object, path: str) -> np.ndarray:
        xy = self.positions(value, path, "linear ring")
        if len(xy) < 4:
            raise ZoneError(f"{path}: a linear ring needs at least 4 positions, got {len(xy)}")
        if xy[0, 0] != xy[-1, 0] or xy[0, 1] != xy[-1, 1]:
            raise ZoneError(
                f"{path}: the ring is not closed: first position {xy[0].tolist()} "
                f"differs from last {xy[-1].tolist()}"
            )
        return xy

    def positions(self, value: object, path: str, what: str) -> np.ndarray:
        """Positions as an (n, 2) float array, every one checked."""
        positions = _array(value, path, what)
        self.vertices += len(positions)
        limit = self.settings.max_zone_vertices
        if self.vertices > limit:
            raise ZoneError(
                f"{path}: the zone has more than {limit} vertices, the limit "
                "(GEOALERT_MAX_ZONE_VERTICES)"
            )
        try:  # fast path: every value an int or a float, all positions of one length
            plain = set(map(type, chain.from_iterable(positions))) <= _NUMBER_TYPES
            xy = np.array(positions, dtype=np.float64)
        except (TypeError, ValueError):
            plain, xy = False, None
        if not plain or xy.ndim != 2 or not 2 <= xy.shape[1] <= 3:
            _check_positions(positions, path)
            xy = np.array([p[:2] for p in positions], dtype=np.float64).reshape(-1, 2)
            if any(len(p) == 3 for p in positions):
                xy = np.column_stack((xy, np.zeros(len(xy))))  # altitudes present
        if xy.shape[1] == 3 or len(xy) != len(positions):
            self.warn(f"{path}: altitudes dropped (zones are two-dimensional)")
            xy = np.ascontiguousarray(xy[:, :2])
        _check_ranges(xy, path)
        return xy

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
            _check_coordinate(float(spec[name]), _join(path, name), name == "lat")
        radius = self.distance(spec["radius_m"], _join(path, "radius_m"))
        crs = self.settings.metric_crs
        centre = to_metric(shapely.Point(spec["lon"], spec["lat"]), crs)
        self.vertices += 4 * self.settings.circle_quad_segs
        return from_metric(centre.buffer(radius, quad_segs=self.settings.circle_quad_segs), crs)

    def corridor(self, value: object, path: str) -> BaseGeometry:
        spec = _fields(value, path, ("line", "width_m"))
        where = _join(path, "line")
        line = spec["line"]
        if not isinstance(line, dict | Mapping) or line.get("type") != "LineString":
            raise ZoneError(f"{where}: expected a GeoJSON LineString, got {_kind(line)}")
        xy = self.positions(line.get("coordinates"), _join(where, "coordinates"), "LineString")
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
        if not np.isfinite(value) or value <= 0:
            raise ZoneError(f"{path}: {value!r} must be a positive number of metres")
        if value > limit:
            raise ZoneError(
                f"{path}: {value!r} m is more than the limit of {limit:g} m (GEOALERT_MAX_RADIUS_M)"
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

    def union(self, value: object, path: str) -> BaseGeometry:
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
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value if type(value) in (str, bytes) else str(value))
        except orjson.JSONDecodeError as error:
            raise ZoneError(f"the zone is not valid JSON: {error}") from None
    reader = _Reader(settings, areas)
    geometry = reader.zone(value, "")
    if geometry.is_empty:
        raise ZoneError("the zone is empty")
    if extent is not None:
        _check_extent(geometry, extent, settings.zone_extent_margin_deg)
    wkb = reader.built[1] if reader.built and reader.built[0] is geometry else None
    return Zone(geometry, tuple(reader.warnings), settings.metric_crs, wkb)


def _polygons_of_repair(geometry: BaseGeometry) -> tuple[np.ndarray, bool]:
    """The polygons of ``make_valid(geometry)``, and whether it also left lines or points."""
    parts = shapely.get_parts(shapely.get_parts(shapely.make_valid(geometry)))
    polygons = parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON]
    return polygons, len(polygons) < len(parts)


def _union(geometries: list[BaseGeometry]) -> BaseGeometry:
    if len(geometries) == 1:
        return geometries[0]
    union = shapely.union_all(geometries)
    parts = [p for p in shapely.get_parts(union) if p.geom_type == "Polygon"]
    return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)


def _check_extent(
    geometry: BaseGeometry, extent: tuple[float, float, float, float], margin: float
) -> None:
    x0, y0, x1, y1 = extent
    bx0, by0, bx1, by1 = shapely.bounds(geometry)
    if bx0 >= x0 - margin and bx1 <= x1 + margin and by0 >= y0 - margin and by1 <= y1 + margin:
        return  # wholly within the extent and its margin
    bounds = shapely.bounds(shapely.get_parts(geometry))
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
        if not isinstance(p, list | tuple) or not 2 <= len(p) <= 3:
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
        raise ZoneError(f"{where}: {label} {value:g} is out of range [-{limit}, {limit}]")


def _fields(value: object, path: str, names: tuple[str, ...]) -> dict:
    if not isinstance(value, dict | Mapping):
        raise ZoneError(f"{path}: expected an object with {', '.join(names)}, got {_kind(value)}")
    missing = [n for n in names if n not in value]
    if missing:
        raise ZoneError(f"{path}: missing {', '.join(missing)}")
    extra = sorted(set(value) - set(names))
    if extra:
        raise ZoneError(f"{path}: unexpected {', '.join(extra)} (expected {', '.join(names)})")
    return dict(value)


def _array(value: object, path: str, what: str) -> list:
    if not isinstance(value, list | tuple):
        raise ZoneError(f"{_where(path)}{what} must be an array, got {_kind(value)}")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict | Mapping):
        kind = value.get("type")
        return f"a {kind}" if isinstance(kind, str) else "an object"
    if isinstance(value, list | tuple):
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
