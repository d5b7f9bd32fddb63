"""Coverage shapes of cells: a sector wedge plus a small disc around the mast.

One shape, two forms: :func:`polygons` draws it (EPSG:3812, a few dozen vertices) and
:func:`contains` / :func:`covering_pairs` test it analytically (for the network's coverage
check and the presence simulation). The polygon is drawn around the analytic shape (arc
vertices on the circumscribed circle), so every point the analytic test covers lies in the
polygon. Distances in metres, azimuths in degrees clockwise from north, NaN for omni cells.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree

WEDGE_HALF_ANGLE_DEG = 65.0
"""Half-width of a sector's coverage: the border with the next sector of a 3-sector site is at
60 degrees off boresight (the 67-degree antennas' 3 dB beam reaches 33.5); 5 more degrees
make neighbouring sectors overlap, as measured coverage does."""

DISC_SHARE = 0.2
"""Radius of the disc around the mast as a share of the cell's range: side and back lobes
serve the mast's immediate surroundings in every direction."""

DISC_MIN_M = 50.0
"""Smallest disc radius: a mast always serves its own block."""

DISC_MAX_M = 300.0
"""Largest disc radius: back lobes are 20-30 dB down, so they reach a few hundred metres."""

ARC_VERTICES = 17
"""Vertices on a sector's front arc (8.1-degree steps over 130 degrees)."""

BACK_VERTICES = 9
"""Vertices on the disc's back arc (28.75-degree steps over 230 degrees)."""

OMNI_VERTICES = 32
"""Vertices of an omni cell's circle."""

RANGE_BIN_RATIO = 1.25
""":func:`covering_pairs` groups cells whose ranges are within this ratio, so a search radius
never exceeds a cell's range by more than 25%."""

POINTS_PER_CHUNK = 100_000
"""Points searched at once by :func:`covering_pairs`, bounding its memory (~150 MB)."""


def disc_radius(range_m: np.ndarray) -> np.ndarray:
    """Radius in metres of the disc around the mast for cells of range ``range_m`` metres."""
    return np.clip(DISC_SHARE * np.asarray(range_m, float), DISC_MIN_M, DISC_MAX_M)


def bearing_deg(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Bearing in degrees clockwise from north, in ``[0, 360)``, of offsets ``(dx, dy)``."""
    return np.degrees(np.arctan2(dx, dy)) % 360.0


def off_boresight_deg(dx: np.ndarray, dy: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """Absolute angle in ``[0, 180]`` degrees between the offsets and the azimuth; 0 for omni."""
    off = np.abs((bearing_deg(dx, dy) - azimuth + 180.0) % 360.0 - 180.0)
    return np.where(np.isnan(azimuth), 0.0, off)


def contains(
    dx: np.ndarray, dy: np.ndarray, azimuth: np.ndarray, range_m: np.ndarray
) -> np.ndarray:
    """Whether points at offsets ``(dx, dy)`` metres from the mast lie in the coverage shape.

    All arguments broadcast; returns a boolean array. The boundary is covered.
    """
    sin_az, cos_az, cos_limit = _orientation(np.asarray(azimuth, float))
    return _inside(dx, dy, np.hypot(dx, dy), sin_az, cos_az, cos_limit, range_m)


def _orientation(azimuth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boresight unit vector and the wedge's cosine limit (-1 for omni: every direction)."""
    omni = np.isnan(azimuth)
    a = np.radians(np.where(omni, 0.0, azimuth))
    limit = np.where(omni, -1.0, np.cos(np.radians(WEDGE_HALF_ANGLE_DEG)))
    return np.sin(a), np.cos(a), limit


def _inside(dx, dy, d, sin_az, cos_az, cos_limit, range_m):
    # off boresight <= half-width  <=>  projection on the boresight >= d * cos(half-width)
    in_wedge = (d <= range_m) & (dx * sin_az + dy * cos_az >= d * cos_limit)
    return in_wedge | (d <= disc_radius(range_m))


def _ring(x, y, radius, start_deg, stop_deg, n):
    angles = np.radians(np.linspace(start_deg, stop_deg, n, axis=-1))
    # vertices on the circumscribed circle: the chords stay outside the true arc
    r = (radius / np.cos(np.radians(np.abs(stop_deg - start_deg) / (n - 1) / 2)))[..., None]
    return np.stack([x[:, None] + r * np.sin(angles), y[:, None] + r * np.cos(angles)], axis=-1)


def polygons(x: np.ndarray, y: np.ndarray, azimuth: np.ndarray, range_m: np.ndarray) -> np.ndarray:
    """Coverage polygons, EPSG:3812.

    Parameters
    ----------
    x, y : numpy.ndarray, shape ``(n,)``
        Mast positions, EPSG:3812 metres.
    azimuth : numpy.ndarray, shape ``(n,)``
        Degrees clockwise from north; NaN for an omni cell.
    range_m : numpy.ndarray, shape ``(n,)``
        Cell range in metres.

    Returns
    -------
    numpy.ndarray of shapely Polygon, shape ``(n,)``
        A sector: front arc of ``ARC_VERTICES`` at the range over +-``WEDGE_HALF_ANGLE_DEG``,
        back arc of ``BACK_VERTICES`` at :func:`disc_radius`; an omni cell: a circle of
        ``OMNI_VERTICES``. Both are star-shaped around the mast, hence valid.
    """
    x, y, azimuth, range_m = (np.asarray(a, float) for a in (x, y, azimuth, range_m))
    out = np.empty(x.shape[0], dtype=object)
    omni = np.isnan(azimuth)
    if omni.any():
        ring = _ring(x[omni], y[omni], range_m[omni], 0.0, 360.0, OMNI_VERTICES + 1)
        out[omni] = shapely.polygons(ring[:, :-1])
    sec = ~omni
    if sec.any():
        az, h = azimuth[sec], WEDGE_HALF_ANGLE_DEG
        front = _ring(x[sec], y[sec], range_m[sec], az - h, az + h, ARC_VERTICES)
        back = _ring(
            x[sec], y[sec], disc_radius(range_m[sec]), az + h, az + 360.0 - h, BACK_VERTICES
        )
        out[sec] = shapely.polygons(np.concatenate([front, back], axis=1))
    return out


def covering_pairs(
    px: np.ndarray,
    py: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    azimuth: np.ndarray,
    range_m: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """All (point, cell) pairs where the cell's coverage contains the point.

    Parameters
    ----------
    px, py : numpy.ndarray, shape ``(m,)``
        Points, EPSG:3812 metres.
    cx, cy, azimuth, range_m : numpy.ndarray, shape ``(n,)``
        Cells: mast position (EPSG:3812 metres), azimuth (degrees, NaN omni), range (metres).

    Returns
    -------
    point, cell : numpy.ndarray of int64, shape ``(k,)``
        Index pairs, in no particular order.

    Notes
    -----
    Cells are grouped by range (ratio :data:`RANGE_BIN_RATIO`); a k-d tree per group finds the
    masts within the group's largest range of each point, then the analytic test of
    :func:`contains` keeps the pairs inside the shape. Points are processed in chunks of
    :data:`POINTS_PER_CHUNK`.
    """
    px, py, cx, cy, azimuth, range_m = (
        np.asarray(a, float) for a in (px, py, cx, cy, azimuth, range_m)
    )
    sin_az, cos_az, cos_limit = _orientation(azimuth)
    reach = np.maximum(range_m, disc_radius(range_m))
    group = np.floor(np.log(reach / reach.min()) / np.log(RANGE_BIN_RATIO)).astype(np.int64)
    groups = [(np.flatnonzero(group == g)) for g in np.unique(group)]
    trees = [(cKDTree(np.column_stack([cx[g], cy[g]])), g, reach[g].max()) for g in groups]
    points, cells = [], []
    for start in range(0, px.size, POINTS_PER_CHUNK):
        sl = slice(start, start + POINTS_PER_CHUNK)
        ptree = cKDTree(np.column_stack([px[sl], py[sl]]))
        for tree, members, radius in trees:
            pairs = ptree.sparse_distance_matrix(tree, radius, output_type="ndarray")
            i = pairs["i"] + start
            j = members[pairs["j"]]
            keep = _inside(
                px[i] - cx[j],
                py[i] - cy[j],
                pairs["v"],
                sin_az[j],
                cos_az[j],
                cos_limit[j],
                range_m[j],
            )
            points.append(i[keep])
            cells.append(j[keep])
    if not points:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(points), np.concatenate(cells)
