"""Exact, boundary-proportional counting of the addresses covered by a zone.

Addresses are sorted along a Morton (Z-order) curve of a quadtree laid over their
lon/lat bounding box, so every quadtree node is one contiguous range of the sorted
arrays; nodes holding more than ``LEAF_SIZE`` addresses are split. A zone is decomposed
into nodes that lie wholly inside it (counted as range lengths, without looking at their
addresses) and leaves crossed by its boundary (whose few addresses are tested one by one).
The work grows with the zone's boundary, not with the number of addresses inside it.

The search is one compiled pass (numba). A node is tested only against the zone's
segments that may meet its parent; a node none may meet is wholly inside or outside,
like its centre. Whether a centre, or a leaf's address, is inside follows from a point
known to be inside or outside by counting the segments the path between them crosses
(every segment the path can meet is in the list). Orientation signs are trusted only
well above their rounding error (:mod:`cells.predicates`); a touching or near-collinear
case is left undecided and handed to GEOS. Node boxes are widened by ``_EPS_DEG``,
far more than the rounding of their edges and of the Morton keys, so that a node's
addresses all lie in its box.

Containment is decided on EPSG:4326 coordinates as they are, with the semantics of
PostGIS ``ST_Covers(zone, point)`` (shapely ``covers``): points on the boundary count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

# The project's exact-or-undecided orientation tests and WKB reader of zone rings.
from cells.predicates import RELATIVE_BOUND, orient, point_in_rings, wkb_rings

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
LEAF_SIZE = 192
#: Node boxes are widened by this many degrees, far more than the rounding of node edges
#: and Morton keys (about 1e-14 degrees), so that a node's addresses all lie in its box.
_EPS_DEG = 1e-9
#: Levels split without tests below the one whose cells are as large as the zone: few, as
#: each node the search starts from is tested against every segment and placed by a ray.
_START_SPLITS = 1
#: Deepest level with a table from cells to nodes (4**10 cells of about 270 m in Belgium).
_TABLE_LEVEL = 10
_TABLE_OFFSET = np.array([(4**level - 1) // 3 for level in range(_TABLE_LEVEL + 1)])
#: A point test that cannot tell (the point too close to the boundary to call).
UNDECIDED = -1
_JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
#: Arguments of ``shapely.lib.to_wkb`` (not hex, 2-D, little-endian, no SRID, extended
#: flavour): the ufunc called on a 0-d array, without ``shapely.to_wkb``'s checks, costs
#: about half as much, a share of a municipality's whole search.
_WKB_ARGS = (np.bool_(False), np.intc(2), np.intc(1), np.bool_(False), np.intc(1))
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
    count : int
        Number of covered addresses: the ranges' lengths and the points.
    tested : int
        How many addresses were tested one by one (those of the leaves on the boundary).
    """

    index: AddressIndex
    lo: np.ndarray
    hi: np.ndarray
    points: np.ndarray
    count: int
    tested: int

    def positions(self) -> np.ndarray:
        """All covered positions, sorted (int64, shape (count,)); work grows with the result."""
        return np.sort(np.concatenate((ranges_to_positions(self.lo, self.hi), self.points)))

    def address_ids(self) -> np.ndarray:
        """Identifiers of the covered addresses (int64, shape (count,))."""
        return self.index.address_id[self.positions()]

    def municipality_counts(self) -> dict[str, int]:
        """Covered addresses per municipality NIS code (only codes with at least one)."""
        index = self.index
        found = _municipality_counts(
            self.lo,
            self.hi,
            self.points,
            index._run_start,
            index._run_municipality,
            index.municipality_code,
            len(index.municipalities),
        )
        k = len(found) // 2
        names = index._municipality_names
        return {
            names[code]: n for code, n in zip(found[:k].tolist(), found[k:].tolist(), strict=True)
        }


@nb.njit(**_JIT)
def _municipality_counts(lo, hi, points, run_start, run_municipality, municipality, n):
    """Addresses per municipality code in ranges ``[lo, hi)`` and at ``points``: a range adds
    the lengths of the runs of one municipality it overlaps (the curve keeps a municipality's
    addresses together), not one count per address.

    Returns the codes with at least one address, ascending, then their counts (one array:
    each array handed back costs as much as the counting).
    """
    counts = np.zeros(n, dtype=np.int64)
    for p in points:
        counts[municipality[p]] += 1
    for i in range(len(lo)):
        r = np.searchsorted(run_start, lo[i], side="right") - 1
        while r < len(run_start) and run_start[r] < hi[i]:
            stop = run_start[r + 1] if r + 1 < len(run_start) else hi[i]
            counts[run_municipality[r]] += min(stop, hi[i]) - max(run_start[r], lo[i])
            r += 1
    codes = np.flatnonzero(counts)
    found = np.empty(2 * len(codes), dtype=np.int64)
    found[: len(codes)] = codes
    found[len(codes) :] = counts[codes]
    return found


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
        # Two contiguous rows: a leaf's addresses are tested on vectors of each.
        self._lonlat = np.vstack((lon[order], lat[order]))
        self.lon, self.lat = self._lonlat
        self.municipalities = np.asarray(municipalities, dtype=object)
        self._municipality_names = self.municipalities.tolist()
        self.municipality_code = codes[order].astype(np.int32)
        # Runs of equal municipality along the curve: counts per municipality for a
        # range of positions add up run lengths instead of looking at each address.
        change = np.flatnonzero(np.diff(self.municipality_code)) + 1
        self._run_start = np.concatenate(([0], change)).astype(np.int64) if n else change
        self._run_municipality = self.municipality_code[self._run_start]
        self._grid = (self.x0, self.y0, self.width, self.height)
        self._build_tree()

    def _build_tree(self) -> None:
        """Split nodes with more than ``leaf_size`` addresses, level by level.

        Row ``i`` of ``nodes`` (float64): the node's box (xmin, ymin, xmax, ymax, widened by
        ``_EPS_DEG``), its positions ``[first, end)``, its first child's id (-1 for a leaf)
        and its number of children.
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
        children = np.concatenate(child_of)
        n_children = (children >= 0).sum(axis=1)
        split = n_children > 0
        size_x, size_y = np.ldexp(self.width, -level), np.ldexp(self.height, -level)
        x_lo, y_lo = self.x0 + nodes[:, 0] * size_x, self.y0 + nodes[:, 1] * size_y
        # One row of 64 bytes per node, so that the search reads one cache line per node.
        # The children of a node have consecutive ids: the first one and their number.
        self.nodes = np.column_stack(
            (
                x_lo - _EPS_DEG,
                y_lo - _EPS_DEG,
                x_lo + size_x + _EPS_DEG,
                y_lo + size_y + _EPS_DEG,
                nodes[:, 3],
                nodes[:, 4],
                np.where(split, np.where(children >= 0, children, len(nodes)).min(axis=1), -1),
                n_children,
            )
        ).astype(np.float64)
        # cell_node[_TABLE_OFFSET[l] + code]: the deepest node of level <= l holding cell
        # (l, code), -1 where no address lies.
        tables = [np.zeros(1, dtype=np.int32)]
        for lev in range(1, _TABLE_LEVEL + 1):
            inherited = np.repeat(tables[-1], 4)
            inherited[split[inherited.clip(min=0)] & (inherited >= 0)] = -1
            at_level = np.flatnonzero(level == lev)
            inherited[nodes[at_level, 2]] = at_level
            tables.append(inherited)
        self._cell_node = np.concatenate(tables)
        # Sizes of the search's arrays: the largest leaf, and room for the ranges and points
        # of a zone (grown when a zone needs more).
        leaf = n_children == 0
        self._max_leaf = int((nodes[leaf, 4] - nodes[leaf, 3]).max()) if leaf.any() else 0
        self._capacity = 4096

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

    def select(self, zone: BaseGeometry) -> AddressSelection:
        """The addresses covered by ``zone`` (EPSG:4326), boundary points included.

        Parameters
        ----------
        zone : shapely Polygon or MultiPolygon
            The zone in EPSG:4326 lon/lat degrees, valid (as :class:`geoalert.zones.Zone`
            makes it): the search counts boundary crossings.

        Returns
        -------
        AddressSelection
            Equal, address by address, to ``shapely.covers(zone, point)`` and to
            PostGIS ``ST_Covers(zone, point)`` on the same coordinates.
        """
        if not len(self):
            empty = np.empty(0, dtype=np.int64)
            return AddressSelection(self, empty, empty, empty, 0, 0)
        wkb = np.frombuffer(
            shapely.lib.to_wkb(np.asarray(zone, dtype=object), *_WKB_ARGS), dtype=np.uint8
        )
        while True:
            capacity = self._capacity
            found = _search(
                self._grid, self._cell_node, self.nodes, self._lonlat, wkb, self._max_leaf, capacity
            )
            if found[0] >= 0:
                break
            self._capacity = max(self._capacity, 4 * capacity)  # kept for the next zones
        # One array back from the compiled pass (each array handed back costs as much as
        # some hundred point tests): covered, tested, the sizes of the ranges, points and
        # undecided points, then their positions.
        covered, tested, n_full, n_points, n_doubtful = found[:5].tolist()
        first = found[5 : 5 + n_full]
        end = found[5 + n_full : 5 + 2 * n_full]
        points = found[5 + 2 * n_full : 5 + 2 * n_full + n_points]
        if n_doubtful:  # rare: GEOS decides exactly
            doubtful = found[5 + 2 * n_full + n_points :]
            shapely.prepare(zone)
            covered_doubtful = shapely.intersects_xy(zone, self.lon[doubtful], self.lat[doubtful])
            points = np.concatenate((points, doubtful[covered_doubtful]))
        return AddressSelection(self, first, end, points, covered + len(points), tested)


@nb.njit(**_JIT)
def _start_nodes(xmin, ymin, xmax, ymax, grid, cell_node):
    """Ids of the nodes a zone's search starts from.

    The cells ``_START_SPLITS`` levels below the deepest level whose cells are at least as
    large as the zone's bounding box (cells that large always cross its boundary), but no
    deeper than ``_TABLE_LEVEL``, that meet the box; each replaced by the deepest node
    holding it.
    """
    x0, y0, width, height = grid
    level = min(
        max(
            min(
                np.floor(np.log2(width / max(xmax - xmin, 1e-300))),
                np.floor(np.log2(height / max(ymax - ymin, 1e-300))),
            ),
            0,
        )
        + _START_SPLITS,
        _TABLE_LEVEL,
    )
    level = int(level)
    n = 1 << level
    c0 = min(max(int(np.floor((xmin - x0) / width * n)), 0), n - 1)
    c1 = min(max(int(np.floor((xmax - x0) / width * n)), 0), n - 1)
    r0 = min(max(int(np.floor((ymin - y0) / height * n)), 0), n - 1)
    r1 = min(max(int(np.floor((ymax - y0) / height * n)), 0), n - 1)
    found = np.empty((c1 - c0 + 1) * (r1 - r0 + 1), dtype=np.int64)
    k = 0
    for c in range(c0, c1 + 1):
        for r in range(r0, r1 + 1):
            node = cell_node[_TABLE_OFFSET[level] + (_SPREAD[c] | (_SPREAD[r] << 1))]
            if node >= 0:
                found[k] = node
                k += 1
    found = np.sort(found[:k])
    distinct = np.ones(k, dtype=np.bool_)
    distinct[1:] = found[1:] != found[:-1]
    return found[distinct]


@nb.njit(inline="always", **_JIT)
def _may_meet(x0, y0, x1, y1, ax, ay, bx, by) -> bool:
    """Whether segment a-b may meet the closed box ``x0, y0, x1, y1``: False only when
    certainly not.

    Past the boxes' test, whether the segment's line meets the box: the centre's distance
    from the line, times the segment's length, is at most the box's half extent along the
    line's normal. The box is widened by 1e-12 degrees and the comparison by a relative
    bound, far above the rounding of the centre, half sizes and products.
    """
    if max(ax, bx) < x0 or min(ax, bx) > x1 or max(ay, by) < y0 or min(ay, by) > y1:
        return False
    dx, dy = bx - ax, by - ay
    half_x, half_y = (x1 - x0) * 0.5, (y1 - y0) * 0.5
    left, right = dx * (y0 + half_y - ay), dy * (x0 + half_x - ax)
    reach = abs(dx) * (half_y + 1e-12) + abs(dy) * (half_x + 1e-12)
    return abs(left - right) <= reach + RELATIVE_BOUND * (abs(left) + abs(right) + reach)


@nb.njit(**_JIT)
def _states(ox, oy, state, pool, begin, count, x, y, tx, ty, n, out, side):
    """Set ``out[i]`` to whether point ``(tx[i], ty[i])`` is inside the zone (1, 0,
    or ``UNDECIDED``) for ``i < n``, from the ``state`` of a point o: flipped by each of the
    segments ``pool[begin : begin + count]`` (all those the paths from o can meet) that the
    path o->t crosses.

    A path ending on the same side of a segment's line as o cannot meet it; otherwise it
    crosses when the segment's ends lie on either side of the path. Written as one pass
    over the points per segment, every test made and the answers combined with arithmetic
    rather than branches (which would mispredict half the time), on contiguous ``tx``,
    ``ty``: the pass runs on vectors. ``side`` is scratch space for the side of o from
    each segment's line. Indices rather than slices: a slice costs two atomic reference
    count updates, more than a point test.
    """
    for i in range(n):
        out[i] = state
    if state == UNDECIDED:
        return
    for j in range(count):
        k = pool[begin + j]
        side[j] = orient(x[k], y[k], x[k + 1], y[k + 1], ox, oy)
    for j in range(count):
        k = pool[begin + j]
        ax, ay, bx, by = x[k], y[k], x[k + 1], y[k + 1]
        low_x, high_x, low_y, high_y = min(ax, bx), max(ax, bx), min(ay, by), max(ay, by)
        o_side = side[j]
        for i in range(n):
            px, py = tx[i], ty[i]
            near = (
                (max(ox, px) >= low_x)
                & (high_x >= min(ox, px))
                & (max(oy, py) >= low_y)
                & (high_y >= min(oy, py))
            )
            end = orient(ax, ay, bx, by, px, py)
            first = orient(ox, oy, px, py, ax, ay)
            second = orient(ox, oy, px, py, bx, by)
            opposite = end != o_side
            crosses = np.int64(near & opposite & (first != second))
            undecided = np.int64(
                near & ((o_side == 0) | (end == 0) | (opposite & ((first == 0) | (second == 0))))
            )
            # Undecided (-1) stays so; otherwise a crossing flips the state.
            was = out[i]
            out[i] = (was ^ crosses) | -(undecided | np.int64(was < 0))


@nb.njit(**_JIT)
def _gather(status, n, lo, value, found, count):
    """Write the positions ``lo + i`` of the ``i < n`` whose ``status[i]`` is ``value`` at
    ``found[count:]``, without branches (the answers are unpredictable); the new count.

    A function of its own: in the search's loop, whose arrays may be replaced by larger
    ones, each write would also update their reference counts (atomic operations).
    """
    for i in range(n):
        found[count] = lo + i
        count += status[i] == value
    return count


@nb.njit(**_JIT)
def _search(grid, cell_node, nodes, lonlat, wkb, max_leaf, capacity):
    """Walk the quadtree down along the zone's boundary; decide what can be decided.

    The zone comes as little-endian 2-D WKB. Each node is tested against the zone's
    segments that may meet its parent (a segment is named by its first vertex in the
    zone's flat rings). A node that none may meet is calm: wholly inside or outside, as its
    centre. Centres are placed by parity from their parent's centre (the segments that may
    meet the parent are all the path can cross), or by a ray to the zone's outside for the
    first nodes; a leaf's addresses likewise from its centre. Touching and near-collinear
    cases are left undecided, and so are the addresses of a calm node whose centre is.

    ``max_leaf`` is the largest number of addresses in a leaf; ``capacity`` the number of
    ranges, and of points, the results may hold.

    Returns
    -------
    ndarray of int64
        Five -1 when ``capacity`` is too small. Otherwise ``covered, tested, k, m, u``: the number of addresses in ranges of calm nodes
        inside the zone, of the leaves' addresses tested, of those ranges, of the leaves'
        addresses inside the zone and of those undecided; then the ranges' first positions
        (k), their ends (k), the positions inside (m) and those undecided (u).
    """
    x, y, ring_start = wkb_rings(wkb)
    if not len(x):
        return np.zeros(5, dtype=np.int64)
    # Every array is allocated here, large enough or reported too small: an array replaced
    # by a larger one inside the walk would make numba update reference counts (atomic
    # operations) at each step of its loops, a third of the search's time.
    n_segments = len(x) - (len(ring_start) - 1)
    # The segments kept for each node on the path down (a node's follow its parent's):
    # popping a node frees those of the nodes walked since its parent.
    pool = np.empty(n_segments * (DEPTH + 3), dtype=np.int64)
    used = 0
    for ring in range(len(ring_start) - 1):
        for k in range(ring_start[ring], ring_start[ring + 1] - 1):
            pool[used] = k
            used += 1
    start = _start_nodes(x.min(), y.min(), x.max(), y.max(), grid, cell_node)
    # (node, first, count, state) of the start nodes and up to three siblings a level.
    stack = np.empty(4 * (len(start) + 3 * (DEPTH + 2)), dtype=np.int64)
    depth = 0
    for node in start:
        ox, oy = (nodes[node, 0] + nodes[node, 2]) * 0.5, (nodes[node, 1] + nodes[node, 3]) * 0.5
        stack[depth], stack[depth + 1], stack[depth + 2] = node, 0, used
        stack[depth + 3] = point_in_rings(ox, oy, x, y, ring_start, 0, len(ring_start) - 1)
        depth += 4
    # Scratch space: sides of a centre, children's centres and states, a leaf's states;
    # then the results.
    side = np.empty(n_segments, dtype=np.int64)
    child_x, child_y, child_state = np.empty(4), np.empty(4), np.empty(4, dtype=np.int64)
    status = np.empty(max_leaf, dtype=np.int64)
    first = np.empty(capacity, dtype=np.int64)
    end = np.empty(capacity, dtype=np.int64)
    points = np.empty(capacity, dtype=np.int64)
    doubtful = np.empty(capacity, dtype=np.int64)
    n_full = n_tested = n_points = n_doubtful = covered = 0
    lon, lat = lonlat[0], lonlat[1]
    while depth:
        depth -= 4
        node, parent_first = stack[depth], stack[depth + 1]
        parent_count, state = stack[depth + 2], stack[depth + 3]
        x0, y0, x1, y1 = nodes[node, 0], nodes[node, 1], nodes[node, 2], nodes[node, 3]
        ox, oy = (x0 + x1) * 0.5, (y0 + y1) * 0.5
        begin = used = parent_first + parent_count
        for j in range(parent_first, parent_first + parent_count):
            k = pool[j]
            if _may_meet(x0, y0, x1, y1, x[k], y[k], x[k + 1], y[k + 1]):
                pool[used] = k
                used += 1
        met = used - begin
        lo, hi = int(nodes[node, 4]), int(nodes[node, 5])
        if met == 0 and state != UNDECIDED:
            if state == 1:
                if n_full == capacity:
                    return np.full(5, -1, dtype=np.int64)
                first[n_full], end[n_full] = lo, hi
                covered += hi - lo
                n_full += 1
            continue
        if met and state == UNDECIDED:  # try again from outside the zone
            state = point_in_rings(ox, oy, x, y, ring_start, 0, len(ring_start) - 1)
        child = int(nodes[node, 6])
        if met and child >= 0:
            n_children = int(nodes[node, 7])
            for i in range(n_children):
                child_x[i] = (nodes[child + i, 0] + nodes[child + i, 2]) * 0.5
                child_y[i] = (nodes[child + i, 1] + nodes[child + i, 3]) * 0.5
            _states(
                ox,
                oy,
                state,
                pool,
                begin,
                met,
                x,
                y,
                child_x,
                child_y,
                n_children,
                child_state,
                side,
            )
            for i in range(n_children):
                stack[depth], stack[depth + 1] = child + i, begin
                stack[depth + 2], stack[depth + 3] = met, child_state[i]
                depth += 4
            continue
        # A leaf on the boundary, or a calm node whose centre is undecided: its addresses
        # are tested, those inside and those undecided written out without branches.
        n = hi - lo
        if n_points + n > capacity or n_doubtful + n > capacity:
            return np.full(5, -1, dtype=np.int64)
        if met:
            _states(ox, oy, state, pool, begin, met, x, y, lon[lo:hi], lat[lo:hi], n, status, side)
            n_points = _gather(status, n, lo, 1, points, n_points)
            n_doubtful = _gather(status, n, lo, UNDECIDED, doubtful, n_doubtful)
        else:  # any number of addresses, all undecided
            for i in range(n):
                doubtful[n_doubtful + i] = lo + i
            n_doubtful += n
        n_tested += n
    found = np.empty(5 + 2 * n_full + n_points + n_doubtful, dtype=np.int64)
    found[0], found[1], found[2], found[3], found[4] = (
        covered,
        n_tested,
        n_full,
        n_points,
        n_doubtful,
    )
    at = 5
    found[at : at + n_full] = first[:n_full]
    at += n_full
    found[at : at + n_full] = end[:n_full]
    at += n_full
    found[at : at + n_points] = points[:n_points]
    at += n_points
    found[at:] = doubtful[:n_doubtful]
    return found


def _children(nodes: np.ndarray, keys: np.ndarray, level: int) -> np.ndarray:
    """The four children (shape (k, 4, 5)) of node rows at ``level - 1``, with their ranges."""
    children = nodes[:, None, :] * _CHILD_SCALE + _CHILD_OFFSET
    inner = np.searchsorted(keys, children[:, 1:, 2] << (2 * (DEPTH - level)))
    children[:, 1:, 3] = inner
    children[:, :-1, 4] = inner
    return children
