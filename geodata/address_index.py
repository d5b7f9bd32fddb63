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

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["AddressIndex", "AddressSelection", "addresses_to_dict"]

#: Quadtree depth: 2**24 cells per axis (about 2 cm across Belgium).
DEPTH = 24
#: Nodes with at most this many addresses are not split further: their points are tested.
LEAF_SIZE = 48
#: Node boxes are widened by this many degrees before tests against the zone, far more
#: than the rounding of node edges and Morton keys (about 1e-14 degrees), so that a node
#: found wholly inside (or outside) the zone holds only addresses that are.
_EPS_DEG = 1e-9


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Insert a zero bit after each of the low 32 bits of ``v`` (uint64)."""
    v = v.astype(np.uint64) & np.uint64(0xFFFFFFFF)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def _morton(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Morton code (uint64) of integer cell columns ``ix`` and rows ``iy``."""
    return _spread_bits(ix) | (_spread_bits(iy) << np.uint64(1))


def _ranges_to_positions(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
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
        Sorted, disjoint half-open ranges ``[lo, hi)`` of positions wholly inside the zone.
    points : ndarray of int64, shape (m,)
        Sorted positions, outside those ranges, of addresses that passed an exact point test.
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
        return np.sort(np.concatenate((_ranges_to_positions(self.lo, self.hi), self.points)))

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
            runs = _ranges_to_positions(first, last)
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

    Build with :meth:`from_arrays` or :meth:`from_frame`; query with :meth:`select`.
    All arrays held by the index are in Morton order ("positions").

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
        if n and len(np.unique(address_id)) != n:
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
        self.keys = keys[order]
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

    @cached_property
    def _id_order(self) -> np.ndarray:
        return np.argsort(self.address_id, kind="stable")

    def positions_of(self, address_id: np.ndarray) -> np.ndarray:
        """Positions of the given address ids (int64); -1 where an id is unknown."""
        address_id = np.asarray(address_id, dtype=np.int64)
        sorted_ids = self.address_id[self._id_order]
        at = np.searchsorted(sorted_ids, address_id)
        at_clipped = np.minimum(at, max(len(self) - 1, 0))
        found = (at < len(self)) & (sorted_ids[at_clipped] == address_id) if len(self) else at < 0
        return np.where(found, self._id_order[at_clipped], -1)

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
        shapely.prepare(boundary)
        xmin, ymin, xmax, ymax = zone.bounds
        # Start at the deepest level whose cells are at least as large as the zone:
        # its bounding box then meets at most 2 x 2 cells.
        level = int(
            np.clip(
                min(
                    np.floor(np.log2(self.width / max(xmax - xmin, 1e-300))),
                    np.floor(np.log2(self.height / max(ymax - ymin, 1e-300))),
                ),
                0,
                DEPTH,
            )
        )
        n_cells = 1 << level
        cx = np.floor((np.array([xmin, xmax]) - self.x0) / self.width * n_cells)
        cy = np.floor((np.array([ymin, ymax]) - self.y0) / self.height * n_cells)
        cx, cy = np.clip(cx, 0, n_cells - 1), np.clip(cy, 0, n_cells - 1)
        ix, iy = np.meshgrid(
            np.arange(cx[0], cx[1] + 1, dtype=np.int64),
            np.arange(cy[0], cy[1] + 1, dtype=np.int64),
        )
        ix, iy = ix.ravel(), iy.ravel()

        full_lo, full_hi, leaf_lo, leaf_hi = [], [], [], []
        while len(ix):
            shift = np.uint64(2 * (DEPTH - level))
            code = _morton(ix, iy)
            lo = np.searchsorted(self.keys, code << shift)
            hi = np.searchsorted(self.keys, (code + np.uint64(1)) << shift)
            keep = hi > lo
            ix, iy, lo, hi = ix[keep], iy[keep], lo[keep], hi[keep]
            cw, ch = self.width / (1 << level), self.height / (1 << level)
            x_lo, y_lo = self.x0 + ix * cw, self.y0 + iy * ch
            boxes = shapely.box(
                x_lo - _EPS_DEG, y_lo - _EPS_DEG, x_lo + cw + _EPS_DEG, y_lo + ch + _EPS_DEG
            )
            crossed = shapely.intersects(boundary, boxes)
            # A widened box that the boundary does not cross lies wholly inside or
            # wholly outside the zone: one point (its centre) tells which.
            calm = np.flatnonzero(~crossed)
            inside = calm[shapely.intersects_xy(zone, x_lo[calm] + cw / 2, y_lo[calm] + ch / 2)]
            full_lo.append(lo[inside])
            full_hi.append(hi[inside])
            small = crossed & ((hi - lo <= self.leaf_size) | (level == DEPTH))
            leaf_lo.append(lo[small])
            leaf_hi.append(hi[small])
            split = crossed & ~small
            ix = (2 * ix[split])[:, None] + np.array([0, 1, 0, 1])
            iy = (2 * iy[split])[:, None] + np.array([0, 0, 1, 1])
            ix, iy = ix.ravel(), iy.ravel()
            level += 1

        candidates = _ranges_to_positions(np.concatenate(leaf_lo), np.concatenate(leaf_hi))
        points = np.sort(
            candidates[shapely.intersects_xy(zone, self.lon[candidates], self.lat[candidates])]
        )
        lo, hi = np.concatenate(full_lo), np.concatenate(full_hi)
        order = np.argsort(lo)
        lo, hi = _merge_ranges(lo[order], hi[order])
        return AddressSelection(self, lo, hi, points)


def _merge_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted, disjoint ranges that touch end to start."""
    if len(lo) < 2:
        return lo, hi
    start = np.concatenate(([True], lo[1:] != hi[:-1]))
    end = np.concatenate((start[1:], [True]))
    return lo[start], hi[end]
