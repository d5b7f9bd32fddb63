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
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "DISJOINT",
    "INTERSECTS",
    "UNDECIDED",
    "box_query",
    "box_tree",
    "cell_blocks",
    "flat_rings",
    "intersecting",
    "orient",
    "point_in_rings",
    "ray_crossing",
    "segments_cross",
    "wkb_rings",
    "zone_raster",
    "zone_wkb",
]

INTERSECTS, DISJOINT, UNDECIDED = np.int8(1), np.int8(0), np.int8(2)
#: Orientation determinants smaller than this share of the sum of their two products'
#: magnitudes are not trusted.
RELATIVE_BOUND = 1e-12
#: Edges per run in :func:`cell_blocks`.
CHUNK = 8
#: Boxes (or nodes) under one node of :func:`box_tree`.
FANOUT = 16
#: Cells ahead whose edges are fetched while one is tested (:func:`_intersecting`).
FETCH_AHEAD = 2
_JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}


@intrinsic
def _prefetch(typingctx, array, index):
    """Start bringing the cache line of ``array[index]`` into the CPU's caches (LLVM's
    ``prefetch`` for a read): a hint with no effect on results, that never faults."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        kind = ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32])
        # ".p0": the intrinsic for LLVM's opaque pointers (numba >= 0.68)
        function = cgutils.get_or_insert_function(builder.module, kind, "llvm.prefetch.p0")
        # read (0), keep in every cache level (3), data cache (1)
        builder.call(function, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@nb.njit(inline="always", **_JIT)
def orient(ax, ay, bx, by, cx, cy):
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
def ray_crossing(x0, y0, x1, y1, px, py):
    """Whether the segment crosses the ray from (px, py) towards +x: 1 yes, 0 no,
    -1 undecided (even-odd rule, half-open in y)."""
    if (y0 > py) == (y1 > py):
        return 0
    side = orient(x0, y0, x1, y1, px, py)
    if side == 0:
        return -1
    return 1 if (y1 > y0) == (side > 0) else 0


@nb.njit(inline="always", **_JIT)
def point_in_rings(px, py, x, y, ring_start, first_ring, last_ring):
    """Even-odd test of (px, py) against rings ``first_ring..last_ring-1``: 1 inside,
    0 outside, -1 undecided. A point exactly on a horizontal edge may come out either way."""
    inside = 0
    for ring in range(first_ring, last_ring):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            crossed = ray_crossing(x[k], y[k], x[k + 1], y[k + 1], px, py)
            if crossed == -1:
                return -1
            inside ^= crossed
    return inside


@nb.njit(inline="always", **_JIT)
def segments_cross(ax, ay, bx, by, cx, cy, dx, dy):
    """Closed segments a-b and c-d: 1 they meet, 0 they do not, -1 undecided."""
    if (
        max(ax, bx) < min(cx, dx)
        or max(cx, dx) < min(ax, bx)
        or max(ay, by) < min(cy, dy)
        or max(cy, dy) < min(ay, by)
    ):
        return 0
    o1 = orient(ax, ay, bx, by, cx, cy)
    o2 = orient(ax, ay, bx, by, dx, dy)
    o3 = orient(cx, cy, dx, dy, ax, ay)
    o4 = orient(cx, cy, dx, dy, bx, by)
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
def wkb_rings(buf):
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
            xy = buf[p + 4 : p + 4 + 16 * n].view(np.float64)  # one view per ring
            x[k : k + n] = xy[0::2]
            y[k : k + n] = xy[1::2]
            p += 4 + 16 * n
            k += n
            r += 1
            ring_start[r] = k
    return x, y, ring_start


def zone_wkb(geometry) -> bytes:
    """A shapely Polygon or MultiPolygon as the little-endian 2-D WKB the compiled passes
    read."""
    return shapely.to_wkb(geometry, byte_order=1, output_dimension=2)


def flat_rings(geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rings of a shapely Polygon or MultiPolygon as flat arrays.

    Returns
    -------
    x, y : ndarray of float64
        Every ring's vertices (closed rings, exteriors before their holes), as stored.
    ring_start : ndarray of int64
        Where each ring starts, then the total number of vertices.
    """
    return wkb_rings(np.frombuffer(zone_wkb(geometry), dtype=np.uint8))


@nb.njit(inline="always", **_JIT)
def _column(v, origin, scale, side):
    """Grid column (or row) of coordinate ``v`` in a grid of ``scale`` cells per degree
    from ``origin``, clamped to ``0..side - 1``; monotone in ``v`` (a product rather than
    a quotient: this runs several times per candidate cell)."""
    return int(min(max((v - origin) * scale, 0.0), side - 1.0))


@nb.njit(**_JIT)
def _segment_grid(x, y, ring_start):
    """Uniform grid over the zone's bounding box listing the segments whose box meets each
    grid cell: (x0, y0, x1, y1, columns per degree, rows per degree, cells per side,
    start of each grid cell's list, segment ids). A segment is named by the index of its
    first vertex."""
    n_rings = len(ring_start) - 1
    n_seg = len(x) - n_rings
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    side = max(1, min(64, int(np.sqrt(n_seg))))
    sx = 1.0 / max((x1 - x0) / side, 1e-300)
    sy = 1.0 / max((y1 - y0) / side, 1e-300)
    counts = np.zeros(side * side + 1, dtype=np.int64)
    for ring in range(n_rings):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            c0 = _column(min(x[k], x[k + 1]), x0, sx, side)
            c1 = _column(max(x[k], x[k + 1]), x0, sx, side)
            r0 = _column(min(y[k], y[k + 1]), y0, sy, side)
            r1 = _column(max(y[k], y[k + 1]), y0, sy, side)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    counts[r * side + c + 1] += 1
    start = np.cumsum(counts)
    fill = start[:-1].copy()
    ids = np.empty(start[-1], dtype=np.int64)
    for ring in range(n_rings):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            c0 = _column(min(x[k], x[k + 1]), x0, sx, side)
            c1 = _column(max(x[k], x[k + 1]), x0, sx, side)
            r0 = _column(min(y[k], y[k + 1]), y0, sy, side)
            r1 = _column(max(y[k], y[k + 1]), y0, sy, side)
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    ids[fill[r * side + c]] = k
                    fill[r * side + c] += 1
    return x0, y0, x1, y1, sx, sy, side, start, ids


@nb.njit(inline="always", **_JIT)
def _in_zone(px, py, x, y, grid, seen, stamp):
    """Even-odd test of a point against the zone through its segment grid: 1 inside,
    0 outside, -1 undecided. Only segments listed in the point's grid row, from its
    column eastwards, can cross the ray from it towards +x."""
    x0, y0, x1, y1, sx, sy, side, start, ids = grid
    if px < x0 or px > x1 or py < y0 or py > y1:
        return 0
    row = _column(py, y0, sy, side)
    inside = 0
    for col in range(_column(px, x0, sx, side), side):
        cell = row * side + col
        for j in range(start[cell], start[cell + 1]):
            k = ids[j]
            if seen[k] == stamp:
                continue
            seen[k] = stamp
            crossed = ray_crossing(x[k], y[k], x[k + 1], y[k + 1], px, py)
            if crossed == -1:
                return -1
            inside ^= crossed
    return inside


#: Zone raster cells across the median cell box (:func:`zone_raster`), per axis.
RASTER_PER_CELL = 4
#: Most zone raster cells per axis.
RASTER_MAX = 128


@nb.njit(inline="always", **_JIT)
def _band(lo, hi, origin, scale, side, margin):
    """Grid columns (or rows) ``first, last`` of every coordinate within ``margin`` of
    [lo, hi], by :func:`_column`."""
    return _column(lo - margin, origin, scale, side), _column(hi + margin, origin, scale, side)


@nb.njit(**_JIT)
def zone_raster(x, y, ring_start, x0, y0, x1, y1, step_x, step_y):
    """Raster of the zone over its box: each raster cell OUT, IN or EDGE, as prefix sums.

    Raster cell (column, row) is the set of points whose :func:`_column` is that column
    and row, a rectangle up to rounding. EDGE marks every raster cell that a zone segment
    comes within a margin of, a margin far above the rounding of :func:`_column` and of the
    interpolations below; any other raster cell lies wholly inside or wholly outside the
    zone, which the parity of the ring crossings of the horizontal line through its
    centre, east of it, tells exactly: a crossing is counted by comparisons alone
    (half-open in y like :func:`ray_crossing`), and its column only needs to be told from
    the cell's own, which the margin guarantees.

    Returns
    -------
    nx, ny, sx, sy : raster size, and raster cells per degree in x and y
    sums : ndarray of int32, shape ((ny + 1) * (nx + 1),)
        Prefix sums, row-major: at ``r * (nx + 1) + c``, the count of non-OUT raster
        cells in rows ``< r`` and columns ``< c``, plus 2**16 times the count of IN ones
        (:func:`_raster_count` takes either apart).
    """
    nx = max(1, min(RASTER_MAX, int(np.ceil((x1 - x0) / step_x))))
    ny = max(1, min(RASTER_MAX, int(np.ceil((y1 - y0) / step_y))))
    width = max((x1 - x0) / nx, 1e-300)
    height = max((y1 - y0) / ny, 1e-300)
    sx, sy = 1.0 / width, 1.0 / height
    mx = 1e-6 * width + 1e-14 * (abs(x0) + abs(x1))
    my = 1e-6 * height + 1e-14 * (abs(y0) + abs(y1))
    # Per raster cell: bit 1 set when a segment comes near it (EDGE), bit 0 the parity
    # of the crossings counted in it.
    flags = np.zeros(ny * nx, dtype=np.int8)
    for ring in range(len(ring_start) - 1):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            xa, ya, xb, yb = x[k], y[k], x[k + 1], y[k + 1]
            if xb < xa:
                xa, ya, xb, yb = xb, yb, xa, ya
            lo_y, hi_y = min(ya, yb), max(ya, yb)
            first, last = _band(xa, xb, x0, sx, nx, mx)
            for col in range(first, last + 1):
                # The segment's y over the column's x-range widened by the margin.
                a = max(xa, x0 + col * width - mx)
                b = min(xb, x0 + (col + 1) * width + mx)
                if xb - xa > 0:
                    ta = ya + (a - xa) * (yb - ya) / (xb - xa)
                    tb = ya + (b - xa) * (yb - ya) / (xb - xa)
                    r0, r1 = _band(max(lo_y, min(ta, tb)), min(hi_y, max(ta, tb)), y0, sy, ny, my)
                else:
                    r0, r1 = _band(lo_y, hi_y, y0, sy, ny, my)
                for row in range(r0, r1 + 1):
                    flags[row * nx + col] |= 2
            # Crossings of the horizontal lines through the rows' centres.
            r0, r1 = _band(lo_y, hi_y, y0, sy, ny, my)
            for row in range(r0, r1 + 1):
                yc = y0 + (row + 0.5) * height
                if (ya > yc) != (yb > yc):
                    xc = xa + (yc - ya) * (xb - xa) / (yb - ya)
                    flags[row * nx + _column(xc, x0, sx, nx)] ^= 1
    sums = np.zeros((ny + 1) * (nx + 1), dtype=np.int32)
    marked = np.empty(nx, dtype=np.int32)
    for row in range(ny):
        parity = 0
        for col in range(nx - 1, -1, -1):
            f = flags[row * nx + col]
            # A crossing counted in an unmarked cell cannot happen (the margin marks it);
            # were it to, the cell is taken as EDGE rather than guessed.
            marked[col] = 1 if f != 0 else (1 + 65536 if parity else 0)
            parity ^= f & 1
        run = 0
        for col in range(nx):
            run += marked[col]
            at = (row + 1) * (nx + 1) + col + 1
            sums[at] = sums[at - nx - 1] + run
    return nx, ny, sx, sy, sums


@nb.njit(inline="always", **_JIT)
def _raster_count(sums, nx, c0, c1, r0, r1):
    """Non-OUT and IN raster cells in columns c0..c1 and rows r0..r1 (:func:`zone_raster`)."""
    w = nx + 1
    total = sums[(r1 + 1) * w + c1 + 1] - sums[r0 * w + c1 + 1]
    total += sums[r0 * w + c0] - sums[(r1 + 1) * w + c0]
    return total & 65535, total >> 16


@nb.njit(**_JIT)
def box_tree(box):
    """Packed tree over boxes kept in their order: each node bounds :data:`FANOUT`
    consecutive boxes (level 1) or nodes of the level below.

    Parameters
    ----------
    box : ndarray of float64, shape (n, >= 4)
        xmin, ymin, xmax, ymax in the first four columns.

    Returns
    -------
    nodes : ndarray of float64, shape (m, 4)
        Node bounds, level 1 first, the root last.
    level_at : ndarray of int64
        Where each level starts in ``nodes``, then ``m``.
    """
    sizes = [len(box)]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + FANOUT - 1) // FANOUT)
    level_at = np.zeros(len(sizes), dtype=np.int64)
    for level in range(1, len(sizes)):
        level_at[level] = level_at[level - 1] + sizes[level]
    nodes = np.empty((level_at[-1], 4))
    below, offset = box, 0
    for level in range(1, len(sizes)):
        for node in range(sizes[level]):
            first, last = node * FANOUT, min((node + 1) * FANOUT, sizes[level - 1])
            nodes[offset + node, 0] = below[first:last, 0].min()
            nodes[offset + node, 1] = below[first:last, 1].min()
            nodes[offset + node, 2] = below[first:last, 2].max()
            nodes[offset + node, 3] = below[first:last, 3].max()
        below = nodes[offset : offset + sizes[level]]
        offset += sizes[level]
    return nodes, level_at


@nb.njit(inline="always", **_JIT)
def _apart(b, row, x0, y0, x1, y1):
    """Whether box ``row`` of ``b`` and the box (x0, y0, x1, y1) do not meet."""
    return b[row, 2] < x0 or b[row, 0] > x1 or b[row, 3] < y0 or b[row, 1] > y1


@nb.njit(**_JIT)
def _groups_meeting(nodes, level_at, n, x0, y0, x1, y1):
    """Level-1 nodes (groups of :data:`FANOUT` boxes) meeting the box, in order."""
    top = len(level_at) - 1
    current = np.zeros(1, dtype=np.int64)
    for level in range(top, 0, -1):
        base = level_at[level - 1]
        below = n if level == 1 else level_at[level - 1] - level_at[level - 2]
        keep = np.empty(len(current) * (FANOUT if level > 1 else 1), dtype=np.int64)
        count = 0
        for node in current:
            if _apart(nodes, base + node, x0, y0, x1, y1):
                continue
            if level == 1:
                keep[count] = node
                count += 1
                continue
            for child in range(node * FANOUT, min((node + 1) * FANOUT, below)):
                keep[count] = child
                count += 1
        current = keep[:count]
    return current


@nb.njit(**_JIT)
def box_query(box, nodes, level_at, operator, allowed, x0, y0, x1, y1):
    """Rows of the boxes meeting the box (x0, y0, x1, y1) whose ``operator`` code is
    ``allowed``, in order (:func:`box_tree` gives ``nodes``, ``level_at``)."""
    groups = _groups_meeting(nodes, level_at, len(box), x0, y0, x1, y1)
    found = np.empty(len(groups) * FANOUT, dtype=np.int64)
    count = 0
    for group in groups:
        for c in range(group * FANOUT, min((group + 1) * FANOUT, len(box))):
            if _wanted(box, c, operator, allowed, x0, y0, x1, y1):
                found[count] = c
                count += 1
    return found[:count]


@nb.njit(inline="always", **_JIT)
def _wanted(box, c, operator, allowed, x0, y0, x1, y1):
    """Whether box row ``c`` has an ``allowed`` operator code and meets the box
    (x0, y0, x1, y1)."""
    return allowed[operator[c]] and not _apart(box, c, x0, y0, x1, y1)


@nb.njit(**_JIT)
def cell_blocks(x, y, ring_start, cell_rings):
    """Each cell's edges in one block of a flat array, so that testing a cell reads one
    stretch of memory: the number of runs of up to :data:`CHUNK` consecutive edges of one
    ring, per run its box, where its vertices start in the block and how many edges it
    has (6 values), then the vertices of every ring (x, y pairs, closed rings).

    Returns
    -------
    block_at : ndarray of int64, shape (n + 1,)
        Where each cell's block starts in ``blocks``, then its length.
    blocks : ndarray of float64
    """
    n = len(cell_rings) - 1
    block_at = np.zeros(n + 1, dtype=np.int64)
    for c in range(n):
        size = 1
        for ring in range(cell_rings[c], cell_rings[c + 1]):
            edges = ring_start[ring + 1] - 1 - ring_start[ring]
            size += 6 * ((edges + CHUNK - 1) // CHUNK) + 2 * (edges + 1)
        block_at[c + 1] = block_at[c] + size
    blocks = np.empty(block_at[n])
    for c in range(n):
        at = block_at[c]
        runs = 0
        for ring in range(cell_rings[c], cell_rings[c + 1]):
            runs += (ring_start[ring + 1] - 1 - ring_start[ring] + CHUNK - 1) // CHUNK
        blocks[at] = runs
        head, vertex = at + 1, at + 1 + 6 * runs
        for ring in range(cell_rings[c], cell_rings[c + 1]):
            first, last = ring_start[ring], ring_start[ring + 1]
            for e0 in range(first, last - 1, CHUNK):
                e1 = min(e0 + CHUNK, last - 1)
                blocks[head] = x[e0 : e1 + 1].min()
                blocks[head + 1] = y[e0 : e1 + 1].min()
                blocks[head + 2] = x[e0 : e1 + 1].max()
                blocks[head + 3] = y[e0 : e1 + 1].max()
                blocks[head + 4] = vertex + 2 * (e0 - first) - at
                blocks[head + 5] = e1 - e0
                head += 6
            for k in range(first, last):
                blocks[vertex], blocks[vertex + 1] = x[k], y[k]
                vertex += 2
    return block_at, blocks


@nb.njit(inline="always", **_JIT)
def _boundaries_meet(c, box, block_at, blocks, x, y, grid, seen, stamp):
    """Whether the zone's boundary meets cell ``c``'s boundary: 1 yes, 0 no, -1 undecided;
    and how many zone segments have a box meeting the cell's box."""
    x0, y0, _, _, sx, sy, side, start, ids = grid
    bx0, by0, bx1, by1 = box[c, 0], box[c, 1], box[c, 2], box[c, 3]
    at = block_at[c]
    near = 0
    result = 0
    for row in range(_column(by0, y0, sy, side), _column(by1, y0, sy, side) + 1):
        for col in range(_column(bx0, x0, sx, side), _column(bx1, x0, sx, side) + 1):
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
                head = at + 1
                for _ in range(int(blocks[at])):
                    if (
                        hi_x < blocks[head]
                        or lo_x > blocks[head + 2]
                        or hi_y < blocks[head + 1]
                        or lo_y > blocks[head + 3]
                    ):
                        head += 6
                        continue
                    # Sides of the run's vertices from the segment's line: an edge can
                    # meet the segment only where they differ or one is too close to call.
                    e = at + int(blocks[head + 4])
                    before = orient(sx0, sy0, sx1, sy1, blocks[e], blocks[e + 1])
                    for _ in range(int(blocks[head + 5])):
                        after = orient(sx0, sy0, sx1, sy1, blocks[e + 2], blocks[e + 3])
                        if before != after or after == 0:
                            met = segments_cross(
                                sx0,
                                sy0,
                                sx1,
                                sy1,
                                blocks[e],
                                blocks[e + 1],
                                blocks[e + 2],
                                blocks[e + 3],
                            )
                            if met == 1:
                                return 1, near
                            if met == -1:
                                result = -1
                        before = after
                        e += 2
                    head += 6
    return result, near


@nb.njit(inline="always", **_JIT)
def _in_block(px, py, blocks, at):
    """Even-odd test of (px, py) against the rings of the cell whose block starts at
    ``at``: 1 inside, 0 outside, -1 undecided."""
    inside = 0
    head = at + 1
    for _ in range(int(blocks[at])):
        v = at + int(blocks[head + 4])
        for edge in range(int(blocks[head + 5])):
            e = v + 2 * edge
            crossed = ray_crossing(blocks[e], blocks[e + 1], blocks[e + 2], blocks[e + 3], px, py)
            if crossed == -1:
                return -1
            inside ^= crossed
        head += 6
    return inside


@nb.njit(inline="always", **_JIT)
def _by_raster(box, c, grid, raster):
    """What the zone raster says of cell ``c`` from its boxes alone: DISJOINT when its box
    lies over OUT raster cells only, INTERSECTS when its inner square meets an IN raster
    cell, otherwise UNDECIDED (its edges are needed)."""
    x0, y0, x1, y1 = grid[0], grid[1], grid[2], grid[3]
    nx, ny, sx, sy, sums = raster
    c0, c1 = _column(box[c, 0], x0, sx, nx), _column(box[c, 2], x0, sx, nx)
    r0, r1 = _column(box[c, 1], y0, sy, ny), _column(box[c, 3], y0, sy, ny)
    if _raster_count(sums, nx, c0, c1, r0, r1)[0] == 0:
        return DISJOINT
    px, py, half = box[c, 4], box[c, 5], box[c, 6]
    ix0, ix1 = max(px - half, x0), min(px + half, x1)
    iy0, iy1 = max(py - half, y0), min(py + half, y1)
    if ix0 <= ix1 and iy0 <= iy1:
        c0, c1 = _column(ix0, x0, sx, nx), _column(ix1, x0, sx, nx)
        r0, r1 = _column(iy0, y0, sy, ny), _column(iy1, y0, sy, ny)
        if _raster_count(sums, nx, c0, c1, r0, r1)[1] > 0:
            return INTERSECTS
    return UNDECIDED


@nb.njit(**_JIT)
def _holds_ring(c, box, block_at, blocks, x, y, ring_start):
    """Whether polygon cell ``c``, whose boundary the zone's does not meet, holds a whole
    zone ring: INTERSECTS, DISJOINT or UNDECIDED. (Not inlined: it is seldom needed, and
    its loop inlined slows the pass.)"""
    for ring in range(len(ring_start) - 1):
        k = ring_start[ring]
        if not (box[c, 0] <= x[k] <= box[c, 2] and box[c, 1] <= y[k] <= box[c, 3]):
            continue  # the ring starts outside the cell's box
        held = _in_block(x[k], y[k], blocks, block_at[c])
        if held != 0:
            return INTERSECTS if held == 1 else UNDECIDED
    return DISJOINT


@nb.njit(**_JIT)
def _intersecting(
    box, nodes, level_at, operator, allowed, simple, block_at, blocks, order, step, wkb
):
    x, y, ring_start = wkb_rings(wkb)
    grid = _segment_grid(x, y, ring_start)
    x0, y0, x1, y1 = grid[0], grid[1], grid[2], grid[3]
    raster = zone_raster(x, y, ring_start, x0, y0, x1, y1, step[0], step[1])
    groups = _groups_meeting(nodes, level_at, len(box), x0, y0, x1, y1)
    # Positions found and left undecided; rows of the cells left for edge tests.
    found = np.empty(len(groups) * FANOUT, dtype=np.int64)
    undecided = np.empty_like(found)
    exact = np.empty_like(found)
    n_found = n_undecided = n_exact = 0
    # First the raster settles what it can from the boxes alone, as the candidates come
    # out of the tree; then the cells left for edge tests, each one's edges fetched from
    # memory while earlier ones are tested (the blocks of a zone's cells are far apart:
    # waiting for each costs more than its tests).
    for group in groups:
        for c in range(group * FANOUT, min((group + 1) * FANOUT, len(box))):
            if not _wanted(box, c, operator, allowed, x0, y0, x1, y1):
                continue
            status = _by_raster(box, c, grid, raster)
            if status == UNDECIDED and simple[c]:
                exact[n_exact] = c
                n_exact += 1
            elif status == INTERSECTS:
                found[n_found] = order[c]
                n_found += 1
            elif status == UNDECIDED:
                undecided[n_undecided] = order[c]
                n_undecided += 1
    seen = np.full(len(x), -1, dtype=np.int64)
    for j in range(n_exact):
        if j + FETCH_AHEAD < n_exact:
            ahead = exact[j + FETCH_AHEAD]
            for k in range(block_at[ahead], block_at[ahead + 1], 8):  # 8 float64 a line
                _prefetch(blocks, k)
        c = exact[j]
        # Crossing boundaries settle most of these cells; for the others, a point of the
        # cell inside the zone; when neither, the cell holds a whole zone ring or is apart.
        # Each test marks the zone segments it has read with a stamp of its own.
        met, near = _boundaries_meet(c, box, block_at, blocks, x, y, grid, seen, 2 * j)
        if met == 1:
            status = INTERSECTS
        else:
            inside = _in_zone(box[c, 4], box[c, 5], x, y, grid, seen, 2 * j + 1)
            if inside == 1:
                status = INTERSECTS
            elif inside == -1 or met == -1:
                status = UNDECIDED
            elif near:
                status = _holds_ring(c, box, block_at, blocks, x, y, ring_start)
            else:
                status = DISJOINT
        if status == INTERSECTS:
            found[n_found] = order[c]
            n_found += 1
        elif status == UNDECIDED:
            undecided[n_undecided] = order[c]
            n_undecided += 1
    found = found[:n_found]
    found.sort()
    return found, undecided[:n_undecided]


def intersecting(cells: tuple, operator_allowed: np.ndarray, wkb: bytes) -> tuple:
    """Cells whose coverage intersects a zone, decided here, and those left undecided.

    Parameters
    ----------
    cells : tuple
        ``(box (n, 7), nodes, level_at, operator (n,), simple (n,), block_at, blocks,
        order (n,), step (2,))``: per cell its box, a point inside it and the half side
        of a square centred on that point inside it (xmin, ymin, xmax, ymax, x, y, half),
        :func:`box_tree` of the boxes, an operator code, whether it is one polygon (others
        are left undecided unless the zone raster settles them), :func:`cell_blocks` of its
        rings and the position to report for it; then the zone raster's cell size in x
        and y (:func:`zone_raster`).
    operator_allowed : ndarray of bool
        Per operator code, whether its cells are wanted.
    wkb : bytes
        The zone as :func:`zone_wkb` (valid, EPSG:4326 like the cells).

    Returns
    -------
    found : ndarray of int64
        Sorted positions of the cells that intersect the zone (touching counts).
    undecided : ndarray of int64
        Positions of the candidates left for an exact test.
    """
    box, nodes, level_at, operator, simple, block_at, blocks, order, step = cells
    return _intersecting(
        box,
        nodes,
        level_at,
        operator,
        operator_allowed,
        simple,
        block_at,
        blocks,
        order,
        step,
        np.frombuffer(wkb, dtype=np.uint8),
    )
