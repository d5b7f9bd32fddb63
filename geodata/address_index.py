"""Exact, boundary-proportional counting of the addresses covered by a zone.

Addresses are sorted along a Morton (Z-order) curve of a quadtree laid over their
lon/lat bounding box, so every quadtree node is one contiguous range of the sorted
arrays. A zone is decomposed into nodes that lie wholly inside it (their addresses
are counted as range lengths, without point tests) and small leaves crossed by its
boundary (their few addresses get exact point tests). The work grows with the zone's
boundary, not with the number of addresses inside it.

Containment is decided on EPSG:4326 coordinates as they are, with the semantics of
PostGIS ``ST_Covers(zone, point)`` (shapely ``covers``): points on the boundary count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

# The project's exact-or-undecided orientation tests and flat zone rings.
from cells.predicates import _orient, _segments_cross, flat_rings

__all__ = [
    "AddressIndex",
    "AddressSelection",
    "addresses_to_dict",
    "ranges_to_positions",
    "sorted_unique",
]

#: Quadtree depth: 2**24 cells per axis (about 2 cm across Belgium).
DEPTH = 24
#: Nodes with at most this many addresses are not split further: their points are tested.
LEAF_SIZE = 96
#: Node boxes are widened by this many degrees before tests against the zone, far more
#: than the rounding of node edges and Morton keys (about 1e-14 degrees), so that a node
#: found wholly inside (or outside) the zone holds only addresses that are.
_EPS_DEG = 1e-9
#: Levels split without tests below the one whose cells are as large as the zone.
_START_SPLITS = 3
#: Deepest level with a table from cells to nodes (4**10 cells of about 270 m in Belgium).
_TABLE_LEVEL = 10
_TABLE_OFFSET = [(4**level - 1) // 3 for level in range(_TABLE_LEVEL + 1)]
#: A point test that cannot tell (the point too close to the boundary to call).
UNDECIDED = np.int8(-1)
_JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
# A node's four children, in Morton order, from its row (column, row, code, first, end):
# column 2x + dx, row 2y + dy, code 4c + (dx + 2 dy), first and end set by the caller.
_CHILD_SCALE = np.array([2, 2, 4, 1, 1], dtype=np.int64)
_CHILD_OFFSET = np.array(
    [[0, 0, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 2, 0, 0], [1, 1, 3, 0, 0]], dtype=np.int64
)


def _spread_bits(v):
    """Insert a zero bit after each of the low 32 bits of ``v`` (uint64 array or int)."""
    v = v & 0xFFFFFFFF
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << shift)) & mask
    return v


def _morton(ix, iy):
    """Morton code of cell columns ``ix`` and rows ``iy`` (uint64 arrays or ints)."""
    return _spread_bits(ix) | (_spread_bits(iy) << 1)


#: Morton bits of the cell columns (rows: shifted by one) at levels up to ``_TABLE_LEVEL``.
_SPREAD = _spread_bits(np.arange(1 << _TABLE_LEVEL, dtype=np.int64))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (like ``np.unique``, whose hashing is far slower on int64)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def ranges_to_positions(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(lo[i], hi[i])`` for every i (int64)."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return starts + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class AddressSelection:
    """The addresses covered by one zone, as positions in an :class:`AddressIndex`.

    Attributes
    ----------
    index : AddressIndex
        The index the positions refer to.
    lo, hi : ndarray of int64, shape (k,)
        Disjoint half-open ranges ``[lo, hi)`` of positions wholly inside the zone.
    points : ndarray of int64, shape (m,)
        Positions, outside those ranges, of addresses that passed an exact point test.
    """

    index: AddressIndex
    lo: np.ndarray
    hi: np.ndarray
    points: np.ndarray

    @property
    def count(self) -> int:
        """Number of covered addresses."""
        return int((self.hi - self.lo).sum()) + len(self.points)

    def positions(self) -> np.ndarray:
        """All covered positions, sorted (int64, shape (count,)); work grows with the result."""
        return np.sort(np.concatenate((ranges_to_positions(self.lo, self.hi), self.points)))

    def address_ids(self) -> np.ndarray:
        """Identifiers of the covered addresses (int64, shape (count,))."""
        return self.index.address_id[self.positions()]

    def municipality_counts(self) -> dict[str, int]:
        """Covered addresses per municipality NIS code (only codes with at least one)."""
        index = self.index
        counts = np.bincount(
            index.municipality_code[self.points], minlength=len(index.municipalities)
        )
        if len(self.lo):
            run_start = index._run_start
            first = np.searchsorted(run_start, self.lo, side="right") - 1
            last = np.searchsorted(run_start, self.hi, side="left")
            runs = ranges_to_positions(first, last)
            owner = np.repeat(np.arange(len(self.lo)), last - first)
            run_end = np.append(run_start[1:], len(index))
            lengths = np.minimum(run_end[runs], self.hi[owner]) - np.maximum(
                run_start[runs], self.lo[owner]
            )
            counts = counts + np.bincount(
                index._run_municipality[runs], weights=lengths, minlength=len(counts)
            ).astype(np.int64)
        nonzero = np.flatnonzero(counts)
        return {str(index.municipalities[i]): int(counts[i]) for i in nonzero}


def addresses_to_dict(selection: AddressSelection) -> dict:
    """The ``"addresses"`` part of a resolution: ``{"count", "by_municipality"}``."""
    return {"count": selection.count, "by_municipality": selection.municipality_counts()}


class AddressIndex:
    """Addresses sorted along a quadtree's Morton curve for exact zone counts.

    Build from arrays or with :meth:`from_frame`; query with :meth:`select`. All
    address arrays held by the index are in Morton order ("positions").

    Parameters
    ----------
    address_id : ndarray of int64, shape (n,)
    lon, lat : ndarray of float64, shape (n,)
        EPSG:4326 coordinates in degrees.
    municipality : array-like of str, shape (n,)
        NIS code of each address's municipality.
    leaf_size : int
        Nodes with at most this many addresses are tested point by point.
    """

    def __init__(
        self,
        address_id: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        municipality: np.ndarray,
        *,
        leaf_size: int = LEAF_SIZE,
    ) -> None:
        address_id = np.asarray(address_id, dtype=np.int64)
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        n = len(address_id)
        if not (len(lon) == len(lat) == len(municipality) == n):
            raise ValueError(
                f"address arrays differ in length: address_id {n}, lon {len(lon)}, "
                f"lat {len(lat)}, municipality {len(municipality)}"
            )
        bad = ~(np.isfinite(lon) & np.isfinite(lat))
        if bad.any():
            raise ValueError(f"{int(bad.sum())} addresses have no finite lon/lat coordinates")
        codes, municipalities = pd.factorize(pd.Series(municipality, dtype=object), sort=True)
        if (codes < 0).any():
            raise ValueError(f"{int((codes < 0).sum())} addresses have no municipality code")
        by_id = np.argsort(address_id)
        self._sorted_ids = address_id[by_id]
        if np.any(np.diff(self._sorted_ids) == 0):
            raise ValueError("address_id values are not unique")

        self.leaf_size = int(leaf_size)
        if n:
            self.x0, self.y0 = float(lon.min()), float(lat.min())
            # Widen by a margin so that the largest coordinates fall inside the last cell.
            self.width = max(float(lon.max()) - self.x0, 1e-6) * (1 + 1e-9)
            self.height = max(float(lat.max()) - self.y0, 1e-6) * (1 + 1e-9)
        else:
            self.x0, self.y0, self.width, self.height = 0.0, 0.0, 1.0, 1.0
        keys = _morton(self._cell(lon, self.x0, self.width), self._cell(lat, self.y0, self.height))
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order].astype(np.int64)  # codes use 2 * DEPTH < 63 bits
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        self._id_position = position[by_id]  # position of the i-th smallest id
        self.address_id = address_id[order]
        self.lon = lon[order]
        self.lat = lat[order]
        self.municipalities = np.asarray(municipalities, dtype=object)
        self.municipality_code = codes[order].astype(np.int32)
        # Runs of equal municipality along the curve: counts per municipality for a
        # range of positions add up run lengths instead of looking at each address.
        change = np.flatnonzero(np.diff(self.municipality_code)) + 1
        self._run_start = np.concatenate(([0], change)).astype(np.int64) if n else change
        self._run_municipality = self.municipality_code[self._run_start]
        self._build_tree()

    def _build_tree(self) -> None:
        """Split nodes with more than ``leaf_size`` addresses, level by level.

        Node ``i`` holds positions ``[node_lo[i], node_hi[i])``, has children
        ``node_child[i]`` (-1 for none), box ``node_box[i]`` (xmin, ymin, xmax, ymax, widened
        by ``_EPS_DEG``) and centre ``(node_cx[i], node_cy[i])``.
        """
        # Rows (column, row, Morton code, first position, end position) per level.
        nodes = np.array([[0, 0, 0, 0, len(self)]], dtype=np.int64)
        levels, per_level, child_of = [np.zeros(1, dtype=np.int64)], [nodes], []
        for level in range(DEPTH + 1):
            split = (nodes[:, 4] - nodes[:, 3] > self.leaf_size) & (level < DEPTH)
            children = _children(nodes[split], self.keys, level + 1)
            # Child ids follow on from the ids given so far, in order; -1 for empty ones.
            filled = (children[:, :, 4] > children[:, :, 3]).ravel()
            ids = np.full(filled.shape, -1)
            ids[filled] = sum(map(len, per_level)) + np.arange(filled.sum())
            table = np.full((len(nodes), 4), -1)
            table[split] = ids.reshape(-1, 4)
            child_of.append(table)
            nodes = children.reshape(-1, 5)[filled]
            if not len(nodes):
                break
            levels.append(np.full(len(nodes), level + 1))
            per_level.append(nodes)

        nodes, level = np.concatenate(per_level), np.concatenate(levels)
        self.node_lo, self.node_hi = nodes[:, 3], nodes[:, 4]
        self.node_child = np.concatenate(child_of)
        self.node_split = self.node_child.max(axis=1) >= 0
        size_x, size_y = np.ldexp(self.width, -level), np.ldexp(self.height, -level)
        x_lo, y_lo = self.x0 + nodes[:, 0] * size_x, self.y0 + nodes[:, 1] * size_y
        self.node_box = np.column_stack(
            (x_lo - _EPS_DEG, y_lo - _EPS_DEG, x_lo + size_x + _EPS_DEG, y_lo + size_y + _EPS_DEG)
        )
        self.node_cx, self.node_cy = x_lo + size_x / 2, y_lo + size_y / 2
        # cell_node[_TABLE_OFFSET[l] + code]: the deepest node of level <= l holding cell
        # (l, code), -1 where no address lies.
        tables = [np.zeros(1, dtype=np.int64)]
        for lev in range(1, _TABLE_LEVEL + 1):
            inherited = np.repeat(tables[-1], 4)
            inherited[self.node_split[inherited.clip(min=0)] & (inherited >= 0)] = -1
            at_level = np.flatnonzero(level == lev)
            inherited[nodes[at_level, 2]] = at_level
            tables.append(inherited)
        self._cell_node = np.concatenate(tables)

    @staticmethod
    def _cell(v: np.ndarray, origin: float, width: float) -> np.ndarray:
        """Integer cell of coordinates ``v`` at the deepest level, clipped to the grid."""
        cells = np.floor((v - origin) * ((1 << DEPTH) / width))
        return np.clip(cells, 0, (1 << DEPTH) - 1).astype(np.uint64)

    @classmethod
    def from_frame(cls, frame, **kwargs) -> AddressIndex:
        """Build from a (Geo)DataFrame with ``address_id``, ``municipality`` and point ``geometry``."""
        xy = shapely.get_coordinates(np.asarray(frame.geometry.values))
        if len(xy) != len(frame):
            raise ValueError(
                f"address geometries must be single points: {len(frame)} rows, "
                f"{len(xy)} coordinates"
            )
        return cls(
            frame["address_id"].to_numpy(),
            xy[:, 0],
            xy[:, 1],
            frame["municipality"].to_numpy(dtype=object),
            **kwargs,
        )

    def __len__(self) -> int:
        return len(self.address_id)

    def positions_of(self, address_id: np.ndarray) -> np.ndarray:
        """Positions of the given address ids (int64); -1 where an id is unknown."""
        address_id = np.asarray(address_id, dtype=np.int64)
        if not len(self):
            return np.full(len(address_id), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted_ids, address_id), len(self) - 1)
        return np.where(self._sorted_ids[at] == address_id, self._id_position[at], -1)

    def _cell_span(self, level: int, xmin: float, ymin: float, xmax: float, ymax: float):
        """First and last cell column and row at ``level`` that meet a bounding box."""
        n = 1 << level
        return (
            min(max(math.floor((v - origin) / width * n), 0), n - 1)
            for v, origin, width in (
                (xmin, self.x0, self.width),
                (xmax, self.x0, self.width),
                (ymin, self.y0, self.height),
                (ymax, self.y0, self.height),
            )
        )

    def _start_nodes(self, xmin: float, ymin: float, xmax: float, ymax: float) -> np.ndarray:
        """Ids of the nodes a zone's search starts from.

        The cells ``_START_SPLITS`` levels below the deepest level whose cells are at
        least as large as the bounding box (cells that large always cross the boundary),
        but no deeper than ``_TABLE_LEVEL``, that meet the box; each is replaced by the
        deepest node holding it.
        """
        level = min(
            max(
                min(
                    math.floor(math.log2(self.width / max(xmax - xmin, 1e-300))),
                    math.floor(math.log2(self.height / max(ymax - ymin, 1e-300))),
                ),
                0,
            )
            + _START_SPLITS,
            _TABLE_LEVEL,
        )
        x_first, x_last, y_first, y_last = self._cell_span(level, xmin, ymin, xmax, ymax)
        code = (_SPREAD[x_first : x_last + 1, None] | (_SPREAD[y_first : y_last + 1] << 1)).ravel()
        nodes = self._cell_node[_TABLE_OFFSET[level] + code]
        return sorted_unique(nodes[nodes >= 0])

    def select(self, zone: BaseGeometry) -> AddressSelection:
        """The addresses covered by ``zone`` (EPSG:4326), boundary points included.

        Parameters
        ----------
        zone : shapely Polygon or MultiPolygon
            The zone in EPSG:4326 lon/lat degrees. It is prepared in place.

        Returns
        -------
        AddressSelection
            Equal, address by address, to ``shapely.covers(zone, point)`` and to
            PostGIS ``ST_Covers(zone, point)`` on the same coordinates.
        """
        empty = np.empty(0, dtype=np.int64)
        if zone is None or zone.is_empty or len(self) == 0:
            return AddressSelection(self, empty, empty, empty)
        shapely.prepare(zone)
        x, y, ring_start = flat_rings(zone)
        last = np.zeros(len(x), dtype=bool)
        last[ring_start[1:] - 1] = True
        segments = np.flatnonzero(~last)  # a segment is named by its first vertex
        calm, leaves, leaf_first, leaf_segments = _descend(
            self._start_nodes(*zone.bounds), segments, x, y, self.node_child, self.node_box
        )
        # Centres of calm nodes and of leaves: exactly, once each (GEOS).
        centres = np.concatenate((calm, leaves))
        inside = shapely.intersects_xy(zone, self.node_cx[centres], self.node_cy[centres])
        positions, status = _leaf_points(
            leaves,
            leaf_first,
            leaf_segments,
            inside[len(calm) :],
            self.node_lo,
            self.node_hi,
            self.node_cx,
            self.node_cy,
            self.lon,
            self.lat,
            x,
            y,
        )
        undecided = positions[status == UNDECIDED]
        points = np.concatenate(
            (
                positions[status == 1],
                undecided[shapely.intersects_xy(zone, self.lon[undecided], self.lat[undecided])],
            )
        )
        calm = calm[inside[: len(calm)]]
        return AddressSelection(self, self.node_lo[calm], self.node_hi[calm], points)


@nb.njit(inline="always", **_JIT)
def _may_meet(box, ax, ay, bx, by) -> bool:
    """Whether segment a-b may meet the closed box: False only when certainly not."""
    x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
    if max(ax, bx) < x0 or min(ax, bx) > x1 or max(ay, by) < y0 or min(ay, by) > y1:
        return False
    side = _orient(ax, ay, bx, by, x0, y0)
    return (
        side == 0
        or _orient(ax, ay, bx, by, x1, y0) != side
        or _orient(ax, ay, bx, by, x1, y1) != side
        or _orient(ax, ay, bx, by, x0, y1) != side
    )


@nb.njit(**_JIT)
def _grown(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` itself when it holds ``size`` items, else a copy twice as large."""
    if size <= len(a):
        return a
    b = np.empty(max(2 * len(a), size), dtype=a.dtype)
    b[: len(a)] = a
    return b


@nb.njit(**_JIT)
def _descend(start, segments, x, y, child, box):
    """Walk the quadtree from ``start`` down along the zone's boundary.

    Each node is tested against the segments that may meet its parent: a node no segment
    may meet is calm (wholly inside or outside); a leaf that some may meet keeps their list.

    Returns
    -------
    calm : ndarray of int64
    leaves : ndarray of int64
    leaf_first, leaf_segments : ndarray of int64
        Leaf ``i``'s segments are ``leaf_segments[leaf_first[i]:leaf_first[i + 1]]``.
    """
    pool = np.empty(max(64, 2 * len(segments)), dtype=np.int64)
    pool[: len(segments)] = segments
    used = len(segments)
    stack = np.empty(max(192, 12 * len(start)), dtype=np.int64)  # (node, first, count)...
    depth = 0
    for node in start:
        stack[depth : depth + 3] = (node, 0, len(segments))
        depth += 3
    calm = np.empty(64, dtype=np.int64)
    leaves = np.empty(64, dtype=np.int64)
    leaf_first = np.zeros(65, dtype=np.int64)
    leaf_segments = np.empty(64, dtype=np.int64)
    n_calm = n_leaves = n_leaf_segments = 0
    while depth:
        depth -= 3
        node, first, count = stack[depth], stack[depth + 1], stack[depth + 2]
        begin = used
        for j in range(first, first + count):
            k = pool[j]
            if _may_meet(box[node], x[k], y[k], x[k + 1], y[k + 1]):
                pool = _grown(pool, used + 1)
                pool[used] = k
                used += 1
        met = used - begin
        if met == 0:
            calm = _grown(calm, n_calm + 1)
            calm[n_calm] = node
            n_calm += 1
        elif child[node].max() >= 0:
            stack = _grown(stack, depth + 12)
            for c in child[node]:
                if c >= 0:
                    stack[depth : depth + 3] = (c, begin, met)
                    depth += 3
        else:
            leaves = _grown(leaves, n_leaves + 1)
            leaves[n_leaves] = node
            leaf_segments = _grown(leaf_segments, n_leaf_segments + met)
            leaf_segments[n_leaf_segments : n_leaf_segments + met] = pool[begin:used]
            n_leaf_segments += met
            n_leaves += 1
            leaf_first = _grown(leaf_first, n_leaves + 1)
            leaf_first[n_leaves] = n_leaf_segments
    return (
        calm[:n_calm],
        leaves[:n_leaves],
        leaf_first[: n_leaves + 1],
        leaf_segments[:n_leaf_segments],
    )


@nb.njit(**_JIT)
def _leaf_points(leaves, leaf_first, leaf_segments, centre_inside, lo, hi, cx, cy, lon, lat, x, y):
    """Whether each address of the leaves is covered: 1, 0, or ``UNDECIDED``.

    A point has the status of its leaf's centre, flipped by each boundary segment that
    crosses the path from the centre to it: every segment that may meet the leaf is listed,
    and the path stays in the leaf. Touching or near-collinear cases are left undecided.
    """
    total = 0
    for leaf in leaves:
        total += hi[leaf] - lo[leaf]
    positions = np.empty(total, dtype=np.int64)
    status = np.empty(total, dtype=np.int8)
    w = 0
    for i in range(len(leaves)):
        leaf = leaves[i]
        ox, oy = cx[leaf], cy[leaf]
        clear = True  # the centre is off every segment's line
        for j in range(leaf_first[i], leaf_first[i + 1]):
            k = leaf_segments[j]
            if _orient(x[k], y[k], x[k + 1], y[k + 1], ox, oy) == 0:
                clear = False
        for p in range(lo[leaf], hi[leaf]):
            positions[w] = p
            state = np.int8(centre_inside[i]) if clear else UNDECIDED
            for j in range(leaf_first[i], leaf_first[i + 1]):
                if state == UNDECIDED:
                    break
                k = leaf_segments[j]
                crossed = _segments_cross(ox, oy, lon[p], lat[p], x[k], y[k], x[k + 1], y[k + 1])
                state = UNDECIDED if crossed == -1 else state ^ crossed
            status[w] = state
            w += 1
    return positions, status


def _children(nodes: np.ndarray, keys: np.ndarray, level: int) -> np.ndarray:
    """The four children (shape (k, 4, 5)) of node rows at ``level - 1``, with their ranges."""
    children = nodes[:, None, :] * _CHILD_SCALE + _CHILD_OFFSET
    inner = np.searchsorted(keys, children[:, 1:, 2] << (2 * (DEPTH - level)))
    children[:, 1:, 3] = inner
    children[:, :-1, 4] = inner
    return children
