"""Warning area coordinates: the alert zone for geofencing in the device (TS 23.041, SBc-AP).

Devices that geofence show a message only inside its *warning area coordinates*, an SBc-AP
octet string of at most 1,024 octets coded as in ATIS-0700041 clause 5.2 (to which TS 23.041
refers): a sequence of shapes, each a 4-bit type, a 10-bit length in octets (header included)
and 2 spare bits, then

- polygon (type 2): its vertices, 44 bits each (latitude then longitude, 22 bits each:
  ``floor((lat + 90) / 180 * 2**22)``, ``floor((lon + 180) / 360 * 2**22)``), padded to an
  octet; the ring closes implicitly;
- circle (type 3): its centre (44 bits) and radius (20 bits, in 1/64 km);
- maximum wait time (type 1): 8 bits, seconds.

A zone too detailed for 1,024 octets is simplified so that it never shrinks: the simplified,
quantised polygons always cover the zone (:func:`covering_polygons`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import shapely

from geoalert.zones import from_metric, to_metric

MAX_OCTETS = 1024
"""Largest Warning Area Coordinates of SBc-AP (TS 36.413/38.413: OCTET STRING (SIZE(1..1024)))."""
_MAX_WAIT, _POLYGON, _CIRCLE = 1, 2, 3
_STEPS = 1 << 22
_RADIUS_STEP_KM = 1 / 64
_MARGIN_M = 10.0  # more than one quantisation step (4.8 m north-south, under 7 m east-west here)


class AreaError(ValueError):
    """A warning area that cannot be coded."""


@dataclass(frozen=True)
class WacPolygon:
    """A polygon of the warning area: vertices ``(lat, lon)`` in degrees, ring not repeated."""

    vertices: tuple[tuple[float, float], ...]

    def to_shapely(self) -> shapely.Polygon:
        """The polygon in lon/lat (EPSG:4326)."""
        return shapely.Polygon([(lon, lat) for lat, lon in self.vertices])


@dataclass(frozen=True)
class WacCircle:
    """A circle of the warning area: centre in degrees, radius in km."""

    lat: float
    lon: float
    radius_km: float


def _quantise(lat: float, lon: float) -> tuple[int, int]:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise AreaError(f"coordinate lat={lat}, lon={lon} is outside the WGS84 range")
    # The tiny nudge makes decoded coordinates (exact grid points) code back to themselves.
    q_lat = min(math.floor((lat + 90) / 180 * _STEPS + 1e-6), _STEPS - 1)
    q_lon = min(math.floor((lon + 180) / 360 * _STEPS + 1e-6), _STEPS - 1)
    return q_lat, q_lon


def _dequantise(q_lat: int, q_lon: int) -> tuple[float, float]:
    return q_lat * 180 / _STEPS - 90, q_lon * 360 / _STEPS - 180


def _tlv(kind: int, bits: int, nbits: int) -> bytes:
    """One shape: header (type, length, spare) then ``nbits`` of value, padded to octets."""
    octets = 2 + -(-nbits // 8)
    if octets >= 1 << 10:
        raise AreaError(f"a shape of {octets} octets does not fit the 10-bit length field")
    value = bits << (8 * (octets - 2) - nbits)
    header = (kind << 12) | (octets << 2)
    return header.to_bytes(2, "big") + value.to_bytes(octets - 2, "big")


def shape_octets(shape: WacPolygon | WacCircle) -> int:
    """Octets one shape takes in the warning area coordinates."""
    if isinstance(shape, WacCircle):
        return 10
    return 2 + -(-44 * len(shape.vertices) // 8)


def encode_wac(
    shapes: Sequence[WacPolygon | WacCircle], maximum_wait_time_s: int | None = None
) -> bytes:
    """Code shapes as warning area coordinates (ATIS-0700041 clause 5.2).

    Coordinates are rounded down to the 2**22 grid and radii up to 1/64 km; see
    :func:`covering_polygons` for polygons that still cover the zone once rounded.

    Raises
    ------
    AreaError
        For a polygon of fewer than 3 vertices, a coordinate outside WGS84, a radius beyond
        20 bits, a wait time beyond 255 s, or a result over 1,024 octets.
    """
    out = bytearray()
    if maximum_wait_time_s is not None:
        if not 0 <= maximum_wait_time_s <= 255:
            raise AreaError(f"maximum wait time {maximum_wait_time_s} s is outside 0..255")
        out += _tlv(_MAX_WAIT, maximum_wait_time_s, 8)
    for i, shape in enumerate(shapes):
        if isinstance(shape, WacCircle):
            radius = math.ceil(shape.radius_km / _RADIUS_STEP_KM - 1e-9)
            if not 0 <= radius < 1 << 20:
                raise AreaError(f"circle {i}: radius {shape.radius_km} km cannot be coded")
            q_lat, q_lon = _quantise(shape.lat, shape.lon)
            out += _tlv(_CIRCLE, (q_lat << 42) | (q_lon << 20) | radius, 64)
        else:
            if len(shape.vertices) < 3:
                raise AreaError(f"polygon {i} has {len(shape.vertices)} vertices; at least 3")
            bits = 0
            for lat, lon in shape.vertices:
                q_lat, q_lon = _quantise(lat, lon)
                bits = (bits << 44) | (q_lat << 22) | q_lon
            out += _tlv(_POLYGON, bits, 44 * len(shape.vertices))
    if len(out) > MAX_OCTETS:
        raise AreaError(f"warning area coordinates take {len(out)} octets; at most {MAX_OCTETS}")
    return bytes(out)


def decode_wac(data: bytes) -> tuple[list[WacPolygon | WacCircle], int | None]:
    """Shapes and maximum wait time (s, or None) of warning area coordinates."""
    shapes: list[WacPolygon | WacCircle] = []
    wait = None
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise AreaError(f"truncated shape header at octet {offset}")
        header = int.from_bytes(data[offset : offset + 2], "big")
        kind, octets = header >> 12, (header >> 2) & 0x3FF
        if octets < 3 or offset + octets > len(data):
            raise AreaError(f"shape at octet {offset} claims {octets} octets")
        nbits = 8 * (octets - 2)
        value = int.from_bytes(data[offset + 2 : offset + octets], "big")
        if kind == _MAX_WAIT:
            wait = value >> (nbits - 8)
        elif kind == _CIRCLE:
            v = value >> (nbits - 64)
            lat, lon = _dequantise((v >> 42) & (_STEPS - 1), (v >> 20) & (_STEPS - 1))
            shapes.append(WacCircle(lat, lon, (v & 0xFFFFF) * _RADIUS_STEP_KM))
        elif kind == _POLYGON:
            n = nbits // 44
            v = value >> (nbits - 44 * n)
            vertices = []
            for i in range(n - 1, -1, -1):
                c = (v >> (44 * i)) & ((1 << 44) - 1)
                vertices.append(_dequantise(c >> 22, c & (_STEPS - 1)))
            shapes.append(WacPolygon(tuple(vertices)))
        else:
            raise AreaError(f"shape at octet {offset} has unknown type {kind}")
        offset += octets
    return shapes, wait


def _polygons(geometry: shapely.Geometry) -> list[shapely.Polygon]:
    return [
        g for g in shapely.get_parts(geometry) if isinstance(g, shapely.Polygon) and not g.is_empty
    ]


def hole_free_parts(geometry: shapely.Geometry) -> list[shapely.Polygon]:
    """Polygons without holes whose union is ``geometry``, for formats that have no holes.

    A polygon with holes is cut in two along the meridian through the middle of its first
    hole, and each half again until no hole is left: every piece of a hole then opens onto the
    cut and becomes a notch of the outline. Polygons without holes are returned as they are.
    """
    done: list[shapely.Polygon] = []
    todo = _polygons(geometry)
    while todo:
        polygon = todo.pop()
        if not polygon.interiors:
            done.append(polygon)
            continue
        hxmin, _, hxmax, _ = polygon.interiors[0].bounds
        x = (hxmin + hxmax) / 2
        xmin, ymin, xmax, ymax = polygon.bounds
        for side in (
            shapely.box(xmin - 1, ymin - 1, x, ymax + 1),
            shapely.box(x, ymin - 1, xmax + 1, ymax + 1),
        ):
            todo += _polygons(shapely.intersection(polygon, side))
    return done


def wac_polygons(geometry: shapely.Geometry) -> list[WacPolygon]:
    """The exterior rings of a (multi)polygon in lon/lat as WAC polygons, e.g. a warning area
    decoded earlier, which codes back to the same octets."""
    shapes = []
    for part in _polygons(geometry):
        ring = shapely.get_coordinates(part.exterior)[:-1]
        shapes.append(WacPolygon(tuple(zip(ring[:, 1].tolist(), ring[:, 0].tolist(), strict=True))))
    return shapes


def _as_wac(metric: shapely.Geometry, metric_crs: str) -> list[WacPolygon]:
    """Hole-free pieces of a metric geometry as WAC polygons in lat/lon."""
    return wac_polygons(shapely.MultiPolygon(hole_free_parts(from_metric(metric, metric_crs))))


def covering_polygons(
    geometry: shapely.Geometry,
    metric_crs: str,
    max_octets: int = MAX_OCTETS,
    max_vertices: int | None = None,
) -> list[WacPolygon]:
    """Polygons of at most ``max_octets`` octets that, coded, cover ``geometry``.

    The zone is grown by a little more than the coding grid and its exterior rings simplified
    with a tolerance doubled until the shapes fit; the growth is always twice the tolerance, so
    simplification never cuts into the zone. If many far-apart parts still do not fit, their
    convex hull is used, and at worst its minimum rotated rectangle.

    Parameters
    ----------
    geometry : Polygon or MultiPolygon in lon/lat (EPSG:4326)
    metric_crs : projected CRS in metres in which to grow and simplify
    max_octets : budget for the polygons
    max_vertices : most vertices of all polygons together, if the centres set one

    Returns
    -------
    list of WacPolygon
        Each decoded polygon ring from :func:`encode_wac` covers its part of ``geometry``, and
        together they cover all of it (checked after quantisation).
    """
    parts = _polygons(geometry)
    if not parts:
        raise AreaError("the zone has no polygon to code as warning area coordinates")
    zone = shapely.MultiPolygon(parts)
    metric = to_metric(zone, metric_crs)
    xmin, ymin, xmax, ymax = metric.bounds
    largest = max(xmax - xmin, ymax - ymin, 1.0)

    def attempt(base: shapely.Geometry, tolerance: float) -> list[WacPolygon] | None:
        grown = shapely.buffer(base, _MARGIN_M + 2 * tolerance, join_style="mitre", mitre_limit=2.0)
        shapes = _as_wac(shapely.simplify(grown, tolerance, preserve_topology=True), metric_crs)
        if sum(shape_octets(s) for s in shapes) > max_octets:
            return None
        if max_vertices is not None and sum(len(s.vertices) for s in shapes) > max_vertices:
            return None
        decoded, _ = decode_wac(encode_wac(shapes))
        cover = shapely.union_all([s.to_shapely() for s in decoded])
        return shapes if cover.covers(zone) else None

    for base in (metric, shapely.convex_hull(metric)):
        fitting, tolerance = 0.0, 0.0
        while tolerance < largest:
            shapes = attempt(base, tolerance)
            if shapes is not None:
                break
            fitting, tolerance = tolerance, max(2 * tolerance, 5.0)
        else:
            continue
        # Tighten: the smallest tolerance that fits, to within an eighth of the last step.
        failing = fitting
        for _ in range(3 if tolerance else 0):
            middle = (failing + tolerance) / 2
            tighter = attempt(base, middle)
            if tighter is None:
                failing = middle
            else:
                shapes, tolerance = tighter, middle
        return shapes
    rectangle = shapely.oriented_envelope(shapely.buffer(metric, 4 * _MARGIN_M, join_style="mitre"))
    shapes = attempt(rectangle, 0.0)
    if shapes is None:  # only for a zone beyond the coding range
        raise AreaError("no covering polygon fits the warning area coordinates")
    return shapes
