"""Compiled zone-against-cell tests that are exact or say they cannot decide.

Every orientation sign is computed in double precision and trusted only when the
determinant exceeds a bound far above its rounding error (:data:`RELATIVE_BOUND`, against
about 4.4e-16 for Shewchuk's static filter of ``orient2d``); otherwise the test answers
*undecided* and the caller hands the cell to GEOS. Touching and collinear configurations
(shared vertices, shared edges, vertices on edges) have a zero determinant, so they are
always left to GEOS: the decided answers equal GEOS's (and PostGIS's) exactly.

Geometries are flat arrays: ``x``, ``y`` (float64) hold the vertices of every ring, each
ring closed, and ``ring_start`` (int64, one more than the number of rings) where each ring
begins.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import shapely

__all__ = ["DISJOINT", "INTERSECTS", "UNDECIDED", "classify", "edge_chunks", "flat_rings"]

INTERSECTS, DISJOINT, UNDECIDED = np.int8(1), np.int8(0), np.int8(2)
#: Orientation determinants smaller than this share of the sum of their two products'
#: magnitudes are not trusted.
RELATIVE_BOUND = 1e-12
#: Edges per run in :func:`edge_chunks`.
CHUNK = 8
_JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


@nb.njit(inline="always", **_JIT)
def _orient(ax, ay, bx, by, cx, cy):
    """Side of c from the line a->b: 1 left, -1 right, 0 undecided (too close to call)."""
    left = (bx - ax) * (cy - ay)
    right = (by - ay) * (cx - ax)
    det = left - right
    bound = RELATIVE_BOUND * (abs(left) + abs(right))
    if det > bound:
        return 1
    if det < -bound:
        return -1
    return 0


@nb.njit(inline="always", **_JIT)
def _crossing(x0, y0, x1, y1, px, py):
    """Whether the segment crosses the ray from (px, py) towards +x: 1 yes, 0 no,
    -1 undecided (even-odd rule, half-open in y)."""
    if (y0 > py) == (y1 > py):
        return 0
    side = _orient(x0, y0, x1, y1, px, py)
    if side == 0:
        return -1
    return 1 if (y1 > y0) == (side > 0) else 0


@nb.njit(inline="always", **_JIT)
def _point_in_rings(px, py, x, y, ring_start, first_ring, last_ring):
    """Even-odd test of (px, py) against rings ``first_ring..last_ring-1``: 1 inside,
    0 outside, -1 undecided. A point exactly on a horizontal edge may come out either way."""
    inside = 0
    for ring in range(first_ring, last_ring):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            crossed = _crossing(x[k], y[k], x[k + 1], y[k + 1], px, py)
            if crossed == -1:
                return -1
            inside ^= crossed
    return inside


@nb.njit(inline="always", **_JIT)
def _segments_cross(ax, ay, bx, by, cx, cy, dx, dy):
    """Closed segments a-b and c-d: 1 they meet, 0 they do not, -1 undecided."""
    if (
        max(ax, bx) < min(cx, dx)
        or max(cx, dx) < min(ax, bx)
        or max(ay, by) < min(cy, dy)
        or max(cy, dy) < min(ay, by)
    ):
        return 0
    o1 = _orient(ax, ay, bx, by, cx, cy)
    o2 = _orient(ax, ay, bx, by, dx, dy)
    o3 = _orient(cx, cy, dx, dy, ax, ay)
    o4 = _orient(cx, cy, dx, dy, bx, by)
    if o1 == 0 or o2 == 0 or o3 == 0 or o4 == 0:
        return -1
    return 1 if (o1 != o2 and o3 != o4) else 0


@nb.njit(inline="always", **_JIT)
def _uint32(buf, at):
    return (
        np.int64(buf[at])
        | (np.int64(buf[at + 1]) << 8)
        | (np.int64(buf[at + 2]) << 16)
        | (np.int64(buf[at + 3]) << 24)
    )


@nb.njit(**_JIT)
def _wkb_rings(buf):
    """Rings of a little-endian 2-D WKB Polygon or MultiPolygon: x, y, ring_start."""
    multi = _uint32(buf, 1) == 6
    polygons, at = (_uint32(buf, 5), 9) if multi else (1, 5)
    n_rings = n_points = 0
    p = at
    for _ in range(polygons):
        p += 5 if multi else 0
        rings = _uint32(buf, p)
        p += 4
        for _ in range(rings):
            n = _uint32(buf, p)
            p += 4 + 16 * n
            n_rings += 1
            n_points += n
    x = np.empty(n_points)
    y = np.empty(n_points)
    ring_start = np.empty(n_rings + 1, dtype=np.int64)
    ring_start[0] = 0
    p, k, r = at, 0, 0
    for _ in range(polygons):
        p += 5 if multi else 0
        rings = _uint32(buf, p)
        p += 4
        for _ in range(rings):
            n = _uint32(buf, p)
            p += 4
            for _ in range(n):
                x[k] = buf[p : p + 8].view(np.float64)[0]
                y[k] = buf[p + 8 : p + 16].view(np.float64)[0]
                p += 16
                k += 1
            r += 1
            ring_start[r] = k
    return x, y, ring_start


def flat_rings(geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rings of a shapely Polygon or MultiPolygon as flat arrays.

    Returns
    -------
    x, y : ndarray of float64
        Every ring's vertices (closed rings, exteriors before their holes), as stored.
    ring_start : ndarray of int64
        Where each ring starts, then the total number of vertices.
    """
    wkb = shapely.to_wkb(geometry, byte_order=1, output_dimension=2)
    return _wkb_rings(np.frombuffer(wkb, dtype=np.uint8))


@nb.njit(**_JIT)
def _segment_grid(x, y, ring_start):
    """Uniform grid over the zone's bounding box listing the segments whose box meets each
    grid cell: (x0, y0, x1, y1, cell width, cell height, cells per side, start of each grid
    cell's list, segment ids). A segment is named by the index of its first vertex."""
    n_rings = len(ring_start) - 1
    n_seg = len(x) - n_rings
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    side = max(1, min(64, int(np.sqrt(n_seg))))
    width = max((x1 - x0) / side, 1e-300)
    height = max((y1 - y0) / side, 1e-300)
    counts = np.zeros(side * side + 1, dtype=np.int64)
    for ring in range(n_rings):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            c0 = min(side - 1, int((min(x[k], x[k + 1]) - x0) / width))
            c1 = min(side - 1, int((max(x[k], x[k + 1]) - x0) / width))
            r0 = min(side - 1, int((min(y[k], y[k + 1]) - y0) / height))
            r1 = min(side - 1, int((max(y[k], y[k + 1]) - y0) / height))
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    counts[r * side + c + 1] += 1
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    ids = np.empty(start[-1], dtype=np.int64)
    for ring in range(n_rings):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            c0 = min(side - 1, int((min(x[k], x[k + 1]) - x0) / width))
            c1 = min(side - 1, int((max(x[k], x[k + 1]) - x0) / width))
            r0 = min(side - 1, int((min(y[k], y[k + 1]) - y0) / height))
            r1 = min(side - 1, int((max(y[k], y[k + 1]) - y0) / height))
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    ids[fill[r * side + c]] = k
                    fill[r * side + c] += 1
    return x0, y0, x1, y1, width, height, side, start, ids


@nb.njit(inline="always", **_JIT)
def _column(v, origin, size, side):
    """Grid column (or row) of coordinate ``v``, clamped; monotone in ``v``."""
    return max(0, min(side - 1, int((v - origin) / size)))


@nb.njit(inline="always", **_JIT)
def _in_zone(px, py, x, y, grid, seen, stamp):
    """Even-odd test of a point against the zone through its segment grid: 1 inside,
    0 outside, -1 undecided. Only segments listed in the point's grid row, from its
    column eastwards, can cross the ray from it towards +x."""
    x0, y0, x1, y1, width, height, side, start, ids = grid
    if px < x0 or px > x1 or py < y0 or py > y1:
        return 0
    row = _column(py, y0, height, side)
    inside = 0
    for col in range(_column(px, x0, width, side), side):
        cell = row * side + col
        for j in range(start[cell], start[cell + 1]):
            k = ids[j]
            if seen[k] == stamp:
                continue
            seen[k] = stamp
            crossed = _crossing(x[k], y[k], x[k + 1], y[k + 1], px, py)
            if crossed == -1:
                return -1
            inside ^= crossed
    return inside


@nb.njit(**_JIT)
def edge_chunks(x, y, ring_start):
    """Boxes of runs of :data:`CHUNK` consecutive edges of every ring, so that a segment
    is tested only against the edges of runs whose box it meets.

    Returns
    -------
    first_edge : ndarray of int64, shape (q + 1,)
        First edge (index of its first vertex) of each run, then the end of the last run.
    box : ndarray of float64, shape (q, 4)
        Each run's bounding box.
    ring_chunk : ndarray of int64, shape (k + 1,)
        First run of each ring.
    """
    n_rings = len(ring_start) - 1
    ring_chunk = np.zeros(n_rings + 1, dtype=np.int64)
    for ring in range(n_rings):
        edges = ring_start[ring + 1] - 1 - ring_start[ring]
        ring_chunk[ring + 1] = ring_chunk[ring] + (edges + CHUNK - 1) // CHUNK
    q = ring_chunk[n_rings]
    first_edge = np.empty(q + 1, dtype=np.int64)
    stop = np.empty(q, dtype=np.int64)
    box = np.empty((q, 4), dtype=np.float64)
    for ring in range(n_rings):
        j = ring_chunk[ring]
        for e0 in range(ring_start[ring], ring_start[ring + 1] - 1, CHUNK):
            e1 = min(e0 + CHUNK, ring_start[ring + 1] - 1)
            first_edge[j], stop[j] = e0, e1
            box[j, 0] = x[e0 : e1 + 1].min()
            box[j, 1] = y[e0 : e1 + 1].min()
            box[j, 2] = x[e0 : e1 + 1].max()
            box[j, 3] = y[e0 : e1 + 1].max()
            j += 1
    first_edge[q] = len(x)
    return first_edge, stop, box, ring_chunk


@nb.njit(inline="always", **_JIT)
def _boundaries_meet(c, box, cell_xy, chunks, x, y, grid, seen, stamp):
    """Whether the zone's boundary meets cell ``c``'s boundary: 1 yes, 0 no, -1 undecided;
    and how many zone segments have a box meeting the cell's box."""
    x0, y0, _, _, width, height, side, start, ids = grid
    first_edge, stop, run_box, cell_chunk = chunks
    bx0, by0, bx1, by1 = box[c, 0], box[c, 1], box[c, 2], box[c, 3]
    near = 0
    result = 0
    for row in range(_column(by0, y0, height, side), _column(by1, y0, height, side) + 1):
        for col in range(_column(bx0, x0, width, side), _column(bx1, x0, width, side) + 1):
            cell = row * side + col
            for j in range(start[cell], start[cell + 1]):
                k = ids[j]
                if seen[k] == stamp:
                    continue
                seen[k] = stamp
                sx0, sy0, sx1, sy1 = x[k], y[k], x[k + 1], y[k + 1]
                lo_x, hi_x = min(sx0, sx1), max(sx0, sx1)
                lo_y, hi_y = min(sy0, sy1), max(sy0, sy1)
                if hi_x < bx0 or lo_x > bx1 or hi_y < by0 or lo_y > by1:
                    continue
                near += 1
                for q in range(cell_chunk[c], cell_chunk[c + 1]):
                    if (
                        hi_x < run_box[q, 0]
                        or lo_x > run_box[q, 2]
                        or hi_y < run_box[q, 1]
                        or lo_y > run_box[q, 3]
                    ):
                        continue
                    for e in range(first_edge[q], stop[q]):
                        met = _segments_cross(
                            sx0,
                            sy0,
                            sx1,
                            sy1,
                            cell_xy[e, 0],
                            cell_xy[e, 1],
                            cell_xy[e + 1, 0],
                            cell_xy[e + 1, 1],
                        )
                        if met == 1:
                            return 1, near
                        if met == -1:
                            result = -1
    return result, near


@nb.njit(**_JIT)
def _classify(
    candidates, box, simple, cell_xy, cell_ring_start, cell_rings, chunks, x, y, ring_start
):
    grid = _segment_grid(x, y, ring_start)
    status = np.empty(len(candidates), dtype=np.int8)
    seen = np.full(len(x), -1, dtype=np.int64)
    stamp = 0
    for i in range(len(candidates)):
        c = candidates[i]
        if not simple[c]:
            status[i] = UNDECIDED
            continue
        # A point of the cell inside the zone settles it.
        stamp += 1
        inside = _in_zone(box[c, 4], box[c, 5], x, y, grid, seen, stamp)
        if inside == 1:
            status[i] = INTERSECTS
            continue
        stamp += 1
        met, near = _boundaries_meet(c, box, cell_xy, chunks, x, y, grid, seen, stamp)
        if met != 0 or inside == -1:
            status[i] = INTERSECTS if met == 1 else UNDECIDED
            continue
        # The boundaries do not meet and the cell's point is outside: the cell holds whole
        # zone rings or is apart from the zone.
        status[i] = DISJOINT
        if near:
            for ring in range(len(ring_start) - 1):
                k = ring_start[ring]
                held = _point_in_rings(
                    x[k],
                    y[k],
                    cell_xy[:, 0],
                    cell_xy[:, 1],
                    cell_ring_start,
                    cell_rings[c],
                    cell_rings[c + 1],
                )
                if held != 0:
                    status[i] = INTERSECTS if held == 1 else UNDECIDED
                    break
    return status


def classify(candidates: np.ndarray, cells: tuple, zone) -> np.ndarray:
    """Decide for each candidate cell whether its coverage intersects the zone.

    Parameters
    ----------
    candidates : ndarray of int64, shape (k,)
        Cell positions to decide.
    cells : tuple
        ``(box (n, 6), simple (n,) bool, xy (m, 2), ring_start, cell_rings, runs)``: per
        cell its box and a point inside it (xmin, ymin, xmax, ymax, x, y), whether it is one
        polygon (others are left undecided), the cells' rings as flat vertices and where
        each ring starts, per cell its first ring (n + 1), and :func:`edge_chunks` of the
        rings with, instead of each ring's first run, each cell's first run (n + 1).
    zone : shapely Polygon or MultiPolygon
        The zone, valid, EPSG:4326 like the cells.

    Returns
    -------
    ndarray of int8, shape (k,)
        :data:`INTERSECTS`, :data:`DISJOINT` or :data:`UNDECIDED` per candidate.
    """
    return _classify(candidates, *cells, *flat_rings(zone))
