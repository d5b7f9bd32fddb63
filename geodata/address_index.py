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

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

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
#: Zone boundaries with more vertices than this are prepared (indexed) for box tests;
#: smaller ones are faster to test as they are.
_PREPARE_VERTICES = 64
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

        Node ``i`` holds positions ``[node_lo[i], node_hi[i])`` and has ``node_box[i]``,
        its box widened by ``_EPS_DEG``, and centre ``(node_cx[i], node_cy[i])``.
        ``node_next[i]`` lists (-1 for none) the nodes two levels down, or a child itself
        when that child is a leaf: the search goes down two levels per step.
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
        node_child = np.concatenate(child_of)
        self.node_split = node_child.max(axis=1) >= 0
        child = node_child.clip(min=0)
        self.node_next = np.where(
            (self.node_split[child] & (node_child >= 0))[:, :, None],
            node_child[child],
            np.where(np.arange(4) == 0, node_child[:, :, None], -1),
        ).reshape(-1, 16)
        size_x, size_y = np.ldexp(self.width, -level), np.ldexp(self.height, -level)
        x_lo, y_lo = self.x0 + nodes[:, 0] * size_x, self.y0 + nodes[:, 1] * size_y
        self.node_box = shapely.box(
            x_lo - _EPS_DEG, y_lo - _EPS_DEG, x_lo + size_x + _EPS_DEG, y_lo + size_y + _EPS_DEG
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
        boundary = zone.boundary
        if shapely.get_num_coordinates(boundary) > _PREPARE_VERTICES:
            shapely.prepare(boundary)
        nodes = self._start_nodes(*zone.bounds)

        calm, leaves = [], []
        while len(nodes):
            crossed = shapely.intersects(self.node_box[nodes], boundary)
            # A widened box that the boundary does not cross lies wholly inside or
            # wholly outside the zone: its centre tells which (tested once, below).
            calm.append(nodes[~crossed])
            nodes = nodes[crossed]
            split = self.node_split[nodes]
            leaves.append(nodes[~split])
            nodes = self.node_next[nodes[split]].ravel()
            nodes = nodes[nodes >= 0]

        calm = np.concatenate(calm)
        calm = calm[shapely.intersects_xy(zone, self.node_cx[calm], self.node_cy[calm])]
        leaves = np.concatenate(leaves)
        candidates = ranges_to_positions(self.node_lo[leaves], self.node_hi[leaves])
        points = candidates[shapely.intersects_xy(zone, self.lon[candidates], self.lat[candidates])]
        return AddressSelection(self, self.node_lo[calm], self.node_hi[calm], points)


def _children(nodes: np.ndarray, keys: np.ndarray, level: int) -> np.ndarray:
    """The four children (shape (k, 4, 5)) of node rows at ``level - 1``, with their ranges."""
    children = nodes[:, None, :] * _CHILD_SCALE + _CHILD_OFFSET
    inner = np.searchsorted(keys, children[:, 1:, 2] << (2 * (DEPTH - level)))
    children[:, 1:, 3] = inner
    children[:, :-1, 4] = inner
    return children
